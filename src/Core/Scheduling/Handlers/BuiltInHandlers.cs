using System.Globalization;
using System.Text.Json;
using Granary.Hashing;

namespace Granary.Scheduling.Handlers;

/// <summary>Argument checks shared by the built-in handlers.</summary>
internal static class Args
{
    public static void Count(JsonElement args, int count, string shape)
    {
        if (args.GetArrayLength() != count)
        {
            throw new TaskValidationException("args", $"expects {shape} ({count} argument{(count == 1 ? string.Empty : "s")}), got {args.GetArrayLength()}");
        }
    }

    public static decimal Number(JsonElement value, string what)
    {
        if (value.ValueKind != JsonValueKind.Number || !value.TryGetDecimal(out var d))
        {
            throw new TaskValidationException("args", $"{what} must be a number, got {value.ValueKind.ToString().ToLowerInvariant()}");
        }

        return d;
    }

    public static int Integer(JsonElement value, string what, int min, int max)
    {
        if (value.ValueKind != JsonValueKind.Number || !value.TryGetInt32(out var i) || i < min || i > max)
        {
            throw new TaskValidationException("args", $"{what} must be an integer between {min} and {max}");
        }

        return i;
    }

    public static string Json(decimal value) => value.ToString(CultureInfo.InvariantCulture);
}

/// <summary>A task of two numbers, <c>name(x, y)</c>; an overflow is a permanent failure (retrying cannot help).</summary>
public abstract class BinaryNumberHandler(string name, string symbol, Func<decimal, decimal, decimal> apply) : ITaskHandler
{
    /// <inheritdoc/>
    public string Name => name;

    /// <inheritdoc/>
    public string Description => $"{name}(x, y) -> x {symbol} y";

    /// <inheritdoc/>
    public void Validate(JsonElement args)
    {
        Args.Count(args, 2, $"{name}(x, y)");
        Args.Number(args[0], "x");
        Args.Number(args[1], "y");
    }

    /// <inheritdoc/>
    public Task<string> ExecuteAsync(TaskRunContext run, CancellationToken cancellationToken)
    {
        ArgumentNullException.ThrowIfNull(run);
        Validate(run.Args);
        try
        {
            return Task.FromResult(Args.Json(apply(Args.Number(run.Args[0], "x"), Args.Number(run.Args[1], "y"))));
        }
        catch (OverflowException)
        {
            throw new PermanentTaskException($"{name} overflowed");
        }
    }
}

/// <summary><c>add(x, y)</c>: the first task of Celery's tutorial.</summary>
public sealed class AddHandler() : BinaryNumberHandler("add", "+", static (x, y) => x + y);

/// <summary><c>multiply(x, y)</c>.</summary>
public sealed class MultiplyHandler() : BinaryNumberHandler("multiply", "*", static (x, y) => x * y);

/// <summary><c>xsum(numbers)</c>: sum of a list (the chord callback of Celery's canvas examples).</summary>
public sealed class XsumHandler : ITaskHandler
{
    /// <inheritdoc/>
    public string Name => "xsum";

    /// <inheritdoc/>
    public string Description => "xsum([n1, n2, ...]) -> sum";

    /// <inheritdoc/>
    public void Validate(JsonElement args)
    {
        Args.Count(args, 1, "xsum(numbers)");
        if (args[0].ValueKind != JsonValueKind.Array)
        {
            throw new TaskValidationException("args", "xsum expects one argument that is an array of numbers");
        }

        foreach (var n in args[0].EnumerateArray())
        {
            Args.Number(n, "every element");
        }
    }

    /// <inheritdoc/>
    public Task<string> ExecuteAsync(TaskRunContext run, CancellationToken cancellationToken)
    {
        ArgumentNullException.ThrowIfNull(run);
        Validate(run.Args);
        return Task.FromResult(Args.Json(run.Args[0].EnumerateArray().Sum(n => Args.Number(n, "element"))));
    }
}

/// <summary>Simulated durations and failure rates of the grocery handlers (<c>Granary:Scheduling:Grocery</c>).</summary>
public sealed record GroceryHandlerOptions
{
    /// <summary>How long picking one order takes.</summary>
    public TimeSpan PickDuration { get; init; } = TimeSpan.FromMilliseconds(20);

    /// <summary>Fraction of picks that fail (retryable), in [0, 1].</summary>
    public double PickFailureRate { get; init; }

    /// <summary>How long assigning a rider takes.</summary>
    public TimeSpan AssignDuration { get; init; } = TimeSpan.FromMilliseconds(10);

    /// <summary>Fraction of rider assignments that fail (retryable), in [0, 1].</summary>
    public double AssignFailureRate { get; init; }
}

/// <summary><c>pick-order(orderId, items)</c>: a picker walks the aisles; slow and sometimes fails.</summary>
public sealed class PickOrderHandler(GroceryHandlerOptions options) : ITaskHandler
{
    /// <inheritdoc/>
    public string Name => "pick-order";

    /// <inheritdoc/>
    public string Description => "pick-order(orderId, items) -> {orderId, items}; simulated duration and failure rate";

    /// <inheritdoc/>
    public void Validate(JsonElement args)
    {
        Args.Count(args, 2, "pick-order(orderId, items)");
        if (args[0].ValueKind != JsonValueKind.String || string.IsNullOrWhiteSpace(args[0].GetString()))
        {
            throw new TaskValidationException("args", "orderId must be a non-empty string");
        }

        Args.Integer(args[1], "items", 1, 1000);
    }

    /// <inheritdoc/>
    public async Task<string> ExecuteAsync(TaskRunContext run, CancellationToken cancellationToken)
    {
        ArgumentNullException.ThrowIfNull(run);
        Validate(run.Args);
        await Task.Delay(options.PickDuration, run.Time, cancellationToken);
        if (run.Random.NextDouble() < options.PickFailureRate)
        {
            throw new TransientTaskException("the picker dropped the basket");
        }

        var order = run.Args[0].GetString()!;
        return JsonSerializer.Serialize(new Dictionary<string, object> { ["orderId"] = order, ["items"] = run.Args[1].GetInt32() });
    }
}

/// <summary><c>assign-rider(order)</c>: picks a rider for an order id (or a pick-order result).</summary>
public sealed class AssignRiderHandler(GroceryHandlerOptions options) : ITaskHandler
{
    /// <summary>Riders on shift.</summary>
    public const int Riders = 20;

    /// <inheritdoc/>
    public string Name => "assign-rider";

    /// <inheritdoc/>
    public string Description => "assign-rider(orderId | pick result) -> {orderId, rider}";

    /// <inheritdoc/>
    public void Validate(JsonElement args)
    {
        Args.Count(args, 1, "assign-rider(order)");
        _ = OrderId(args[0]);
    }

    /// <inheritdoc/>
    public async Task<string> ExecuteAsync(TaskRunContext run, CancellationToken cancellationToken)
    {
        ArgumentNullException.ThrowIfNull(run);
        Validate(run.Args);
        await Task.Delay(options.AssignDuration, run.Time, cancellationToken);
        if (run.Random.NextDouble() < options.AssignFailureRate)
        {
            throw new TransientTaskException("no rider answered");
        }

        var order = OrderId(run.Args[0]);
        var rider = "rider-" + (StableHash.Hash64(order) % Riders).ToString(CultureInfo.InvariantCulture);
        return JsonSerializer.Serialize(new Dictionary<string, string> { ["orderId"] = order, ["rider"] = rider });
    }

    private static string OrderId(JsonElement value)
    {
        if (value.ValueKind == JsonValueKind.String && !string.IsNullOrWhiteSpace(value.GetString()))
        {
            return value.GetString()!;
        }

        if (value.ValueKind == JsonValueKind.Object && value.TryGetProperty("orderId", out var id) && id.ValueKind == JsonValueKind.String)
        {
            return id.GetString()!;
        }

        throw new TaskValidationException("args", "order must be an order id string or an object with an orderId");
    }
}

/// <summary><c>sleep(ms)</c>: waits, honouring cancellation (time-limit and load demos).</summary>
public sealed class SleepHandler : ITaskHandler
{
    /// <inheritdoc/>
    public string Name => "sleep";

    /// <inheritdoc/>
    public string Description => "sleep(ms) -> ms";

    /// <inheritdoc/>
    public void Validate(JsonElement args)
    {
        Args.Count(args, 1, "sleep(ms)");
        Args.Integer(args[0], "ms", 0, 3_600_000);
    }

    /// <inheritdoc/>
    public async Task<string> ExecuteAsync(TaskRunContext run, CancellationToken cancellationToken)
    {
        ArgumentNullException.ThrowIfNull(run);
        Validate(run.Args);
        var ms = run.Args[0].GetInt32();
        await Task.Delay(TimeSpan.FromMilliseconds(ms), run.Time, cancellationToken);
        return ms.ToString(CultureInfo.InvariantCulture);
    }
}

/// <summary><c>flaky(n)</c>: fails on attempts before <c>n</c>, then returns the attempt number (retry demos).</summary>
public sealed class FlakyHandler : ITaskHandler
{
    /// <inheritdoc/>
    public string Name => "flaky";

    /// <inheritdoc/>
    public string Description => "flaky(n) -> fails until attempt n, then returns n";

    /// <inheritdoc/>
    public void Validate(JsonElement args)
    {
        Args.Count(args, 1, "flaky(succeedOnAttempt)");
        Args.Integer(args[0], "succeedOnAttempt", 1, 1000);
    }

    /// <inheritdoc/>
    public Task<string> ExecuteAsync(TaskRunContext run, CancellationToken cancellationToken)
    {
        ArgumentNullException.ThrowIfNull(run);
        Validate(run.Args);
        return run.Attempt < run.Args[0].GetInt32()
            ? throw new TransientTaskException($"attempt {run.Attempt} failed on purpose")
            : Task.FromResult(run.Attempt.ToString(CultureInfo.InvariantCulture));
    }
}

/// <summary><c>chaos(percent, ms)</c>: runs for ms and fails at random percent of the time (failure tests).</summary>
public sealed class ChaosHandler : ITaskHandler
{
    /// <inheritdoc/>
    public string Name => "chaos";

    /// <inheritdoc/>
    public string Description => "chaos(failurePercent, ms) -> ms; fails at random";

    /// <inheritdoc/>
    public void Validate(JsonElement args)
    {
        Args.Count(args, 2, "chaos(failurePercent, ms)");
        Args.Integer(args[0], "failurePercent", 0, 100);
        Args.Integer(args[1], "ms", 0, 600_000);
    }

    /// <inheritdoc/>
    public async Task<string> ExecuteAsync(TaskRunContext run, CancellationToken cancellationToken)
    {
        ArgumentNullException.ThrowIfNull(run);
        Validate(run.Args);
        var ms = run.Args[1].GetInt32();
        if (ms > 0)
        {
            await Task.Delay(TimeSpan.FromMilliseconds(ms), run.Time, cancellationToken);
        }

        return run.Random.Next(100) < run.Args[0].GetInt32()
            ? throw new TransientTaskException("chaos struck")
            : ms.ToString(CultureInfo.InvariantCulture);
    }
}
