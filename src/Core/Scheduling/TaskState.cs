namespace Granary.Scheduling;

/// <summary>Where a task is in its life. Terminal states never change except by an explicit retry from the dead-letter list.</summary>
public enum TaskState
{
    /// <summary>Queued and due: waiting for a worker.</summary>
    Pending,

    /// <summary>Queued with an ETA in the future; not dispatched before it.</summary>
    Scheduled,

    /// <summary>Claimed by a worker under a lease; not done until the worker acknowledges (late acknowledgement).</summary>
    Running,

    /// <summary>Terminal: the handler returned a result.</summary>
    Succeeded,

    /// <summary>Terminal: the handler failed in a way retrying cannot fix (permanent error).</summary>
    Failed,

    /// <summary>An attempt failed and a retry is scheduled after a backoff delay.</summary>
    Retrying,

    /// <summary>Terminal: the run exceeded the task's time limit.</summary>
    TimedOut,

    /// <summary>Terminal: cancelled by a caller.</summary>
    Cancelled,

    /// <summary>Terminal (until retried from the dead-letter list): every retry was used up.</summary>
    DeadLettered,
}

/// <summary>The legal transitions between <see cref="TaskState"/>s.</summary>
public static class TaskTransitions
{
    /// <summary>True for states that end a task's life.</summary>
    public static bool IsTerminal(TaskState state) =>
        state is TaskState.Succeeded or TaskState.Failed or TaskState.TimedOut or TaskState.Cancelled or TaskState.DeadLettered;

    /// <summary>True for states in which the task waits in a queue for dispatch.</summary>
    public static bool IsWaiting(TaskState state) => state is TaskState.Pending or TaskState.Scheduled or TaskState.Retrying;

    /// <summary>True when <paramref name="from"/> may move to <paramref name="to"/>.</summary>
    public static bool IsAllowed(TaskState from, TaskState to) => (from, to) switch
    {
        (TaskState.Pending, TaskState.Running or TaskState.Cancelled) => true,
        (TaskState.Scheduled, TaskState.Pending or TaskState.Running or TaskState.Cancelled) => true,
        (TaskState.Retrying, TaskState.Pending or TaskState.Running or TaskState.Cancelled) => true,
        // Running -> Pending: the lease was lost (the worker's silo died) and the task is dispatched again.
        (TaskState.Running, TaskState.Succeeded or TaskState.Failed or TaskState.Retrying or TaskState.TimedOut
            or TaskState.Cancelled or TaskState.Pending or TaskState.DeadLettered) => true,
        (TaskState.DeadLettered, TaskState.Pending) => true,
        _ => false,
    };

    /// <summary>Kebab-case name used on the console and in JSON (<c>dead-lettered</c>).</summary>
    public static string ToName(TaskState state) => state switch
    {
        TaskState.Pending => "pending",
        TaskState.Scheduled => "scheduled",
        TaskState.Running => "running",
        TaskState.Succeeded => "succeeded",
        TaskState.Failed => "failed",
        TaskState.Retrying => "retrying",
        TaskState.TimedOut => "timed-out",
        TaskState.Cancelled => "cancelled",
        TaskState.DeadLettered => "dead-lettered",
        _ => state.ToString(),
    };
}

/// <summary>A transition that <see cref="TaskTransitions.IsAllowed"/> refuses was attempted.</summary>
public sealed class InvalidTaskTransitionException(TaskState from, TaskState to)
    : InvalidOperationException($"A task cannot move from {TaskTransitions.ToName(from)} to {TaskTransitions.ToName(to)}.")
{
    /// <summary>The state the task was in.</summary>
    public TaskState From { get; } = from;

    /// <summary>The state asked for.</summary>
    public TaskState To { get; } = to;
}
