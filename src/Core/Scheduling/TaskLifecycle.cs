namespace Granary.Scheduling;

/// <summary>
/// The rules of a task's life, over an <see cref="ITaskRecord"/>: claims under a lease, late
/// acknowledgement, retries with backoff, time limits, lease loss and cancellation. Every method
/// takes the current time so tests drive it with a fake clock; every state change goes through
/// <see cref="TaskTransitions.IsAllowed"/>.
/// </summary>
public static class TaskLifecycle
{
    /// <summary>Runs of one task that may be lost with their worker before it is dead-lettered.</summary>
    public const int MaxRedeliveries = 10;

    /// <summary>Initial state for a new task: scheduled when its ETA is in the future.</summary>
    public static void Submit(ITaskRecord task, DateTimeOffset now, DateTimeOffset? eta)
    {
        ArgumentNullException.ThrowIfNull(task);
        task.Eta = eta;
        task.State = eta is { } e && e > now ? TaskState.Scheduled : TaskState.Pending;
    }

    /// <summary>True when the task may be dispatched at <paramref name="now"/> (never before its ETA).</summary>
    public static bool IsDue(ITaskRecord task, DateTimeOffset now)
    {
        ArgumentNullException.ThrowIfNull(task);
        return TaskTransitions.IsWaiting(task.State) && (task.Eta is not { } eta || now >= eta);
    }

    /// <summary>
    /// Claims the task for a run: only a waiting task whose ETA has passed can be claimed, so a
    /// duplicate dispatch or an early one is refused (returns false) and the handler runs once.
    /// </summary>
    public static bool TryClaim(ITaskRecord task, DateTimeOffset now, string leaseId, string worker)
    {
        ArgumentNullException.ThrowIfNull(task);
        if (!IsDue(task, now))
        {
            return false;
        }

        Move(task, TaskState.Running);
        task.Attempts++;
        task.LeaseId = leaseId;
        task.Worker = worker;
        task.StartedAt = now;
        task.Eta = null;
        return true;
    }

    /// <summary>True when <paramref name="leaseId"/> is the lease of the current run.</summary>
    public static bool HoldsLease(ITaskRecord task, string? leaseId)
    {
        ArgumentNullException.ThrowIfNull(task);
        return task.State == TaskState.Running && leaseId is not null && string.Equals(task.LeaseId, leaseId, StringComparison.Ordinal);
    }

    /// <summary>When the current run exceeds its time limit.</summary>
    public static DateTimeOffset? RunDeadline(ITaskRecord task)
    {
        ArgumentNullException.ThrowIfNull(task);
        return task.State == TaskState.Running && task.StartedAt is { } started ? started + TimeSpan.FromMilliseconds(task.TimeLimitMs) : null;
    }

    /// <summary>True when the current run has gone past its time limit at <paramref name="now"/>.</summary>
    public static bool IsOverTime(ITaskRecord task, DateTimeOffset now, TimeSpan grace = default) =>
        RunDeadline(task) is { } deadline && now > deadline + grace;

    /// <summary>
    /// Applies a worker's acknowledgement (late ack: only now is the run over). Returns false, and
    /// changes nothing, when the lease is not the current one (a stale run after a re-dispatch).
    /// </summary>
    public static bool Complete(ITaskRecord task, DateTimeOffset now, string leaseId, RunOutcome outcome, string? resultOrError, Random random)
    {
        ArgumentNullException.ThrowIfNull(task);
        ArgumentNullException.ThrowIfNull(random);
        if (!HoldsLease(task, leaseId))
        {
            return false;
        }

        switch (outcome)
        {
            case RunOutcome.Succeeded:
                Finish(task, TaskState.Succeeded, now);
                task.Result = resultOrError;
                task.Error = null;
                break;
            case RunOutcome.FailedPermanently:
                task.Error = resultOrError;
                Finish(task, TaskState.Failed, now);
                break;
            case RunOutcome.TimedOut:
                task.Error = resultOrError ?? $"exceeded the time limit of {task.TimeLimitMs} ms";
                Finish(task, TaskState.TimedOut, now);
                break;
            default:
                task.Error = resultOrError;
                if (task.Retries < task.MaxRetries)
                {
                    task.Retries++;
                    var policy = new BackoffPolicy(TimeSpan.FromMilliseconds(task.BackoffBaseMs), TimeSpan.FromMilliseconds(task.BackoffCapMs));
                    Move(task, TaskState.Retrying);
                    task.Eta = now + policy.DelayFor(task.Retries, random);
                    task.LeaseId = null;
                }
                else
                {
                    Finish(task, TaskState.DeadLettered, now);
                }

                break;
        }

        return true;
    }

    /// <summary>
    /// The worker stopped heartbeating (its silo died): the run is abandoned and the task is
    /// dispatched again, unless it has been lost too often (then it is dead-lettered).
    /// </summary>
    public static void LeaseLost(ITaskRecord task, DateTimeOffset now)
    {
        ArgumentNullException.ThrowIfNull(task);
        if (task.Redeliveries >= MaxRedeliveries)
        {
            task.Error = $"lost its worker {task.Redeliveries + 1} times";
            Finish(task, TaskState.DeadLettered, now);
            return;
        }

        Move(task, TaskState.Pending);
        task.Redeliveries++;
        task.LeaseId = null;
        task.Eta = null;
    }

    /// <summary>The run went past its time limit and the worker did not report it (stuck or gone).</summary>
    public static void TimeLimitExceeded(ITaskRecord task, DateTimeOffset now)
    {
        ArgumentNullException.ThrowIfNull(task);
        task.Error = $"exceeded the time limit of {task.TimeLimitMs} ms";
        Finish(task, TaskState.TimedOut, now);
    }

    /// <summary>Cancels a task that is not finished; returns false when it already is.</summary>
    public static bool Cancel(ITaskRecord task, DateTimeOffset now)
    {
        ArgumentNullException.ThrowIfNull(task);
        if (TaskTransitions.IsTerminal(task.State))
        {
            return false;
        }

        task.Error = "cancelled";
        Finish(task, TaskState.Cancelled, now);
        return true;
    }

    /// <summary>Puts a dead-lettered task back in its queue with its retries reset.</summary>
    public static void RetryFromDeadLetter(ITaskRecord task)
    {
        ArgumentNullException.ThrowIfNull(task);
        Move(task, TaskState.Pending);
        task.Retries = 0;
        task.Redeliveries = 0;
        task.Eta = null;
        task.FinishedAt = null;
        task.LeaseId = null;
    }

    private static void Finish(ITaskRecord task, TaskState state, DateTimeOffset now)
    {
        Move(task, state);
        task.FinishedAt = now;
        task.LeaseId = null;
    }

    private static void Move(ITaskRecord task, TaskState to)
    {
        if (!TaskTransitions.IsAllowed(task.State, to))
        {
            throw new InvalidTaskTransitionException(task.State, to);
        }

        task.State = to;
    }
}
