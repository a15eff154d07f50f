using System.Text.Json;

namespace Granary.Scheduling.Handlers;

/// <summary>
/// A task type: validates its arguments at submit time and runs them on a worker. Arguments are a
/// JSON array (positional, as Celery passes them); in a chain the previous result is prepended.
/// </summary>
/// <example><code>
/// registry.Validate("add", "[2, 3]");                          // throws TaskValidationException when bad
/// string result = await registry.Get("add").ExecuteAsync(run, ct);  // "5"
/// </code></example>
public interface ITaskHandler
{
    /// <summary>Task type name (<c>add</c>, <c>pick-order</c>).</summary>
    string Name { get; }

    /// <summary>One line for <c>granary task types</c>.</summary>
    string Description { get; }

    /// <summary>Rejects malformed arguments with <see cref="TaskValidationException"/>.</summary>
    void Validate(JsonElement args);

    /// <summary>Runs the task and returns its result as JSON. Throws <see cref="PermanentTaskException"/> for errors a retry cannot fix.</summary>
    Task<string> ExecuteAsync(TaskRunContext run, CancellationToken cancellationToken);
}

/// <summary>What a handler gets for one run.</summary>
/// <param name="TaskId">The task.</param>
/// <param name="Args">Its arguments (a JSON array).</param>
/// <param name="Attempt">1 for the first run.</param>
/// <param name="Time">The clock (fake in tests).</param>
/// <param name="Random">Randomness for simulated failures.</param>
public sealed record TaskRunContext(string TaskId, JsonElement Args, int Attempt, TimeProvider Time, Random Random);

/// <summary>A failure retrying will not fix: the task fails at once, without using its retries.</summary>
public sealed class PermanentTaskException(string message) : Exception(message);

/// <summary>A simulated, retryable failure (a picker dropped the basket).</summary>
public sealed class TransientTaskException(string message) : Exception(message);
