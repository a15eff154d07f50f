namespace Granary.Scheduling;

/// <summary>
/// The mutable fields <see cref="TaskLifecycle"/> works on. The task grain's persisted state
/// implements it, so the rules live here (unit-tested with a fake clock) and the grain only stores.
/// </summary>
public interface ITaskRecord
{
    /// <summary>Current state.</summary>
    TaskState State { get; set; }

    /// <summary>Not dispatched before this instant (ETA, or the end of a retry backoff).</summary>
    DateTimeOffset? Eta { get; set; }

    /// <summary>Runs started (claims), including re-dispatches after a lost lease.</summary>
    int Attempts { get; set; }

    /// <summary>Retries consumed by failures; never above <see cref="MaxRetries"/>.</summary>
    int Retries { get; set; }

    /// <summary>Times the task was dispatched again because its worker's lease expired.</summary>
    int Redeliveries { get; set; }

    /// <summary>Most retries after failures.</summary>
    int MaxRetries { get; set; }

    /// <summary>Backoff base in milliseconds.</summary>
    long BackoffBaseMs { get; set; }

    /// <summary>Backoff cap in milliseconds.</summary>
    long BackoffCapMs { get; set; }

    /// <summary>Time limit of one run in milliseconds.</summary>
    long TimeLimitMs { get; set; }

    /// <summary>Lease of the current run; a completion with another lease id is stale and ignored.</summary>
    string? LeaseId { get; set; }

    /// <summary>Worker of the current (or last) run.</summary>
    string? Worker { get; set; }

    /// <summary>Start of the current (or last) run.</summary>
    DateTimeOffset? StartedAt { get; set; }

    /// <summary>When the task reached a terminal state.</summary>
    DateTimeOffset? FinishedAt { get; set; }

    /// <summary>Result JSON of a successful run.</summary>
    string? Result { get; set; }

    /// <summary>Last error message.</summary>
    string? Error { get; set; }
}

/// <summary>How a run ended, as the worker reports it.</summary>
public enum RunOutcome
{
    /// <summary>The handler returned a result.</summary>
    Succeeded,

    /// <summary>The handler threw; a retry may help.</summary>
    Failed,

    /// <summary>The handler threw an error retrying cannot fix.</summary>
    FailedPermanently,

    /// <summary>The run exceeded the time limit.</summary>
    TimedOut,
}
