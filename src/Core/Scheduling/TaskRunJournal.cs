namespace Granary.Scheduling;

/// <summary>What happened to one handler run.</summary>
public enum TaskRunEventKind
{
    /// <summary>The worker holds the claim and is calling the handler.</summary>
    Started,

    /// <summary>The handler returned or threw; <see cref="TaskRunEvent.Outcome"/> says how (recorded before the acknowledgement is sent).</summary>
    Finished,

    /// <summary>The worker stopped waiting for the handler: the task grain revoked the lease.</summary>
    Abandoned,
}

/// <summary>One handler run starting or ending on a worker, as that worker saw it.</summary>
/// <param name="At">When, by the worker's clock.</param>
/// <param name="Kind">Start, finish or abandonment.</param>
/// <param name="TaskId">The task.</param>
/// <param name="Attempt">The claim this run holds (the task record's attempt number).</param>
/// <param name="Worker">The worker running it.</param>
/// <param name="Outcome">How a finished run ended; null otherwise.</param>
public sealed record TaskRunEvent(DateTimeOffset At, TaskRunEventKind Kind, string TaskId, int Attempt, string Worker, RunOutcome? Outcome = null);

/// <summary>
/// Where workers record each handler run: when it starts (after the claim, just before the handler
/// is called) and when it finishes. The task record counts claims; the journal counts what the
/// handlers really did, so an audit (or a test) can see a task that ran twice or one that was
/// completed without a run. A journal must be cheap and must not throw.
/// </summary>
/// <example><code>
/// journal.Append(new TaskRunEvent(now, TaskRunEventKind.Started, "t-1", 1, "default/silo#0"));
/// </code></example>
public interface ITaskRunJournal
{
    /// <summary>Records one event; called from the worker before it goes on.</summary>
    void Append(TaskRunEvent runEvent);
}

/// <summary>The journal when none is configured: records nothing.</summary>
public sealed class NoTaskRunJournal : ITaskRunJournal
{
    /// <summary>The instance.</summary>
    public static NoTaskRunJournal Instance { get; } = new();

    /// <inheritdoc/>
    public void Append(TaskRunEvent runEvent)
    {
    }
}
