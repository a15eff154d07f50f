using System.Text.Json;
using System.Text.Json.Serialization.Metadata;
using Granary.Scheduling.Handlers;
using Microsoft.Extensions.DependencyInjection;

namespace Granary.Client.Scheduling;

/// <summary>
/// An application's typed handler seen as a task type: reads the task's arguments as one JSON value of
/// <typeparamref name="TArguments"/> and writes the result as <typeparamref name="TResult"/>, both
/// with source-generated JSON contexts; each run gets its own DI scope.
/// </summary>
internal sealed class TypedTaskHandler<TArguments, TResult>(
    string name,
    Func<IServiceProvider, TArguments, CancellationToken, ValueTask<TResult>> handle,
    JsonTypeInfo<TArguments> arguments,
    JsonTypeInfo<TResult> result,
    IServiceProvider services) : ITaskHandler
{
    /// <inheritdoc/>
    public string Name => name;

    /// <inheritdoc/>
    public string Description => $"{typeof(TArguments).Name} -> {typeof(TResult).Name} (application handler)";

    /// <inheritdoc/>
    public void Validate(JsonElement args)
    {
        // Judged where it runs (ExecuteAsync): the silos accept any JSON value for an application's type.
    }

    /// <inheritdoc/>
    public async Task<string> ExecuteAsync(TaskRunContext run, CancellationToken cancellationToken)
    {
        ArgumentNullException.ThrowIfNull(run);
        TArguments value;
        try
        {
            value = run.Args.Deserialize(arguments)!;
        }
        catch (JsonException ex)
        {
            // Arguments of the wrong shape: retrying cannot fix them, so the task fails at once.
            throw new PermanentTaskException($"args: not a {typeof(TArguments).Name}: {ex.Message}");
        }

        var scope = services.CreateAsyncScope();
        await using (scope.ConfigureAwait(false))
        {
            var answer = await handle(scope.ServiceProvider, value, cancellationToken).ConfigureAwait(false);
            return JsonSerializer.Serialize(answer, result);
        }
    }
}

/// <summary>One task type an application registered (<c>AddTaskHandler</c>); the worker builds its handler registry from these.</summary>
/// <param name="Type">The task type's name.</param>
/// <param name="Create">Makes the handler from the application's services.</param>
internal sealed record TaskHandlerRegistration(string Type, Func<IServiceProvider, ITaskHandler> Create);
