using System.Text.Json;

namespace Granary.Scheduling.Handlers;

/// <summary>Task handlers by name. Built once per silo; read concurrently.</summary>
/// <example><code>
/// var registry = TaskHandlerRegistry.CreateDefault(new GroceryHandlerOptions());
/// var args = registry.Validate("xsum", "[[1, 2, 3]]");
/// </code></example>
public sealed class TaskHandlerRegistry
{
    /// <summary>Longest argument JSON accepted, in characters.</summary>
    public const int MaxArgumentsLength = 64 * 1024;

    private readonly Dictionary<string, ITaskHandler> _handlers;

    /// <summary>Creates a registry; names must be unique.</summary>
    public TaskHandlerRegistry(IEnumerable<ITaskHandler> handlers)
    {
        ArgumentNullException.ThrowIfNull(handlers);
        _handlers = handlers.ToDictionary(h => h.Name, StringComparer.Ordinal);
    }

    /// <summary>The registered handlers, by name.</summary>
    public IReadOnlyCollection<ITaskHandler> Handlers => _handlers.Values;

    /// <summary>The built-in handlers: add, multiply, xsum, pick-order, assign-rider, sleep, flaky, chaos.</summary>
    public static TaskHandlerRegistry CreateDefault(GroceryHandlerOptions grocery) =>
        new(
        [
            new AddHandler(),
            new MultiplyHandler(),
            new XsumHandler(),
            new PickOrderHandler(grocery),
            new AssignRiderHandler(grocery),
            new SleepHandler(),
            new FlakyHandler(),
            new ChaosHandler(),
        ]);

    /// <summary>The handler for <paramref name="type"/>, or null when none has that name.</summary>
    public ITaskHandler? Find(string? type) => type is not null && _handlers.TryGetValue(type, out var handler) ? handler : null;

    /// <summary>The handler for <paramref name="type"/>.</summary>
    /// <exception cref="TaskValidationException">No handler has that name.</exception>
    public ITaskHandler Get(string? type)
    {
        if (type is not null && _handlers.TryGetValue(type, out var handler))
        {
            return handler;
        }

        throw new TaskValidationException("type", $"unknown task type '{type}'; known types: {string.Join(", ", _handlers.Keys.Order(StringComparer.Ordinal))}");
    }

    /// <summary>Checks the type and arguments; returns the arguments in canonical (compact) JSON.</summary>
    /// <exception cref="TaskValidationException">Unknown type, or arguments that are not a JSON array the handler accepts.</exception>
    public string Validate(string? type, string? argsJson)
    {
        var handler = Get(type);
        var args = Parse(argsJson);
        handler.Validate(args);
        return args.GetRawText();
    }

    /// <summary>Parses arguments JSON; it must be an array.</summary>
    public static JsonElement Parse(string? argsJson)
    {
        var root = ParseAny(argsJson);
        if (root.ValueKind != JsonValueKind.Array)
        {
            throw new TaskValidationException("args", "must be a JSON array of positional arguments, e.g. [2, 3]");
        }

        return root;
    }

    /// <summary>Parses arguments JSON of any shape (a typed handler's arguments are one JSON value); empty is <c>[]</c>.</summary>
    public static JsonElement ParseAny(string? argsJson)
    {
        var text = string.IsNullOrWhiteSpace(argsJson) ? "[]" : argsJson;
        if (text.Length > MaxArgumentsLength)
        {
            throw new TaskValidationException("args", $"is {text.Length} characters long; the limit is {MaxArgumentsLength}");
        }

        JsonElement root;
        try
        {
            using var doc = JsonDocument.Parse(text);
            root = doc.RootElement.Clone();
        }
        catch (JsonException ex)
        {
            throw new TaskValidationException("args", $"is not valid JSON: {ex.Message}");
        }

        return root;
    }

    /// <summary>Prepends <paramref name="firstJson"/> to an argument array (how a chain feeds a result forward).</summary>
    public static string Prepend(string firstJson, string? argsJson)
    {
        var args = Parse(argsJson);
        var items = new List<string> { firstJson };
        items.AddRange(args.EnumerateArray().Select(e => e.GetRawText()));
        return "[" + string.Join(",", items) + "]";
    }
}
