using Granary.Errors;

namespace Granary.Scheduling;

/// <summary>Error codes of the scheduling family.</summary>
public static class SchedulingErrorCodes
{
    /// <summary>A task request was refused at submit time (unknown type, bad arguments, bad cron, negative delay).</summary>
    public const string TaskRejected = "TASK_REJECTED";

    /// <summary>No task (or workflow, periodic task) has that id, or its result retention has passed.</summary>
    public const string TaskNotFound = "TASK_NOT_FOUND";

    /// <summary>The operation does not apply to the task's current state.</summary>
    public const string TaskState = "TASK_STATE";

    /// <summary>A worker grain was called but its worker is not running (its silo is gone).</summary>
    public const string WorkerUnavailable = "WORKER_UNAVAILABLE";

    /// <summary>A task queue cannot be removed now (a worker serves it, tasks wait in it, or a periodic task targets it).</summary>
    public const string QueueInUse = "QUEUE_IN_USE";
}

/// <summary>A task request was refused at submit time; nothing was queued.</summary>
[GenerateSerializer, Alias("granary.scheduling.error.rejected")]
public sealed class TaskRejectedException : GranaryException
{
    /// <summary>Creates the error for <paramref name="parameter"/>.</summary>
    public TaskRejectedException(string parameter, string message)
        : base(SchedulingErrorCodes.TaskRejected, $"{parameter}: {message}")
    {
        Parameter = parameter;
    }

    /// <summary>Required by serializers.</summary>
    public TaskRejectedException()
        : this("request", "rejected")
    {
    }

    /// <summary>The part of the request at fault (<c>type</c>, <c>args</c>, <c>cron</c>, <c>delay</c>...).</summary>
    [Id(0)]
    public string Parameter { get; private set; }
}

/// <summary>Nothing is known under that id (never submitted, or its retention has passed).</summary>
[GenerateSerializer, Alias("granary.scheduling.error.not-found")]
public sealed class TaskNotFoundException : GranaryException
{
    /// <summary>Creates the error.</summary>
    public TaskNotFoundException(string id)
        : base(SchedulingErrorCodes.TaskNotFound, $"no task or workflow '{id}' (never submitted, or past its result retention)")
    {
        TaskId = id;
    }

    /// <summary>Required by serializers.</summary>
    public TaskNotFoundException()
        : this("?")
    {
    }

    /// <summary>The id asked for.</summary>
    [Id(0)]
    public string TaskId { get; private set; }
}

/// <summary>The operation does not apply in the task's current state (e.g. retrying a task that is not dead-lettered).</summary>
[GenerateSerializer, Alias("granary.scheduling.error.state")]
public sealed class TaskStateException : GranaryException
{
    /// <summary>Creates the error.</summary>
    public TaskStateException(string message)
        : base(SchedulingErrorCodes.TaskState, message)
    {
    }

    /// <summary>Required by serializers.</summary>
    public TaskStateException()
        : this("wrong task state")
    {
    }
}

/// <summary>The worker grain was reactivated away from its silo (the silo died): it takes no work.</summary>
[GenerateSerializer, Alias("granary.scheduling.error.worker-unavailable")]
public sealed class WorkerUnavailableException : GranaryException
{
    /// <summary>Creates the error.</summary>
    public WorkerUnavailableException(string workerId)
        : base(SchedulingErrorCodes.WorkerUnavailable, $"worker '{workerId}' is not running")
    {
    }

    /// <summary>Required by serializers.</summary>
    public WorkerUnavailableException()
        : this("?")
    {
    }
}

/// <summary>
/// The task queue is not declared (code <c>NOT_FOUND</c>): declare it at run time
/// (<c>granary task queue declare NAME</c>, <c>TaskClient.DeclareQueueAsync</c>) or list it in
/// <c>Granary:Scheduling:Queues</c>. Nothing was stored and no scheduler was started.
/// </summary>
[GenerateSerializer, Alias("granary.scheduling.error.queue-not-found")]
public sealed class TaskQueueNotFoundException : GranaryException
{
    /// <summary>Creates the error.</summary>
    public TaskQueueNotFoundException(string queue)
        : base(ErrorCodes.NotFound, $"task queue '{queue}' is not declared: declare it with 'granary task queue declare {queue}' or list it in Granary:Scheduling:Queues")
    {
        Queue = queue;
    }

    /// <summary>Required by serializers.</summary>
    public TaskQueueNotFoundException()
        : this("?")
    {
    }

    /// <summary>The queue asked for.</summary>
    [Id(0)]
    public string Queue { get; private set; }
}

/// <summary>A task queue was not removed because removing it now could strand work; nothing was changed.</summary>
[GenerateSerializer, Alias("granary.scheduling.error.queue-in-use")]
public sealed class TaskQueueInUseException : GranaryException
{
    /// <summary>Creates the error; <paramref name="reason"/> says what still uses the queue.</summary>
    public TaskQueueInUseException(string queue, string reason)
        : base(SchedulingErrorCodes.QueueInUse, $"task queue '{queue}' is in use: {reason}")
    {
    }

    /// <summary>Required by serializers.</summary>
    public TaskQueueInUseException()
        : this("?", "in use")
    {
    }
}
