using Microsoft.Extensions.Logging;

namespace Granary.Scheduling;

/// <summary>Structured log events of the scheduling grains.</summary>
internal static partial class SchedulingLog
{
    [LoggerMessage(EventId = 7001, Level = LogLevel.Information, Message = "Task {TaskId} lost its worker {Worker}; dispatching it again (redelivery {Redeliveries})")]
    public static partial void LogInformationLeaseLost(ILogger logger, string taskId, string? worker, int redeliveries);

    [LoggerMessage(EventId = 7002, Level = LogLevel.Warning, Message = "Task {TaskId} exceeded its time limit on {Worker}")]
    public static partial void LogWarningTimeLimit(ILogger logger, string taskId, string? worker);

    [LoggerMessage(EventId = 7003, Level = LogLevel.Warning, Message = "Follow-up of task {TaskId} failed; it is retried on the next check")]
    public static partial void LogWarningFollowUpFailed(ILogger logger, string taskId, Exception exception);

    [LoggerMessage(EventId = 7004, Level = LogLevel.Information, Message = "Dispatch of {TaskId} to worker {Worker} failed; worker suspended")]
    public static partial void LogInformationDispatchFailed(ILogger logger, string taskId, string worker, Exception exception);

    [LoggerMessage(EventId = 7005, Level = LogLevel.Warning, Message = "Worker {Worker} could not finish task {TaskId}")]
    public static partial void LogWarningRunFailed(ILogger logger, string worker, string taskId, Exception exception);

    [LoggerMessage(EventId = 7006, Level = LogLevel.Information, Message = "Periodic task {Name} fired tick {Tick} as {TaskId}")]
    public static partial void LogInformationPeriodicFired(ILogger logger, string name, DateTimeOffset tick, string taskId);

    [LoggerMessage(EventId = 7007, Level = LogLevel.Warning, Message = "Scheduling tick of {Target} failed")]
    public static partial void LogWarningTickFailed(ILogger logger, string target, Exception exception);

    [LoggerMessage(EventId = 7008, Level = LogLevel.Warning, Message = "Task {TaskId}: a write failed and reading the record back failed too; the activation is dropped")]
    public static partial void LogWarningRecordReloadFailed(ILogger logger, string taskId, Exception exception);

    [LoggerMessage(EventId = 7009, Level = LogLevel.Information, Message = "Task queue {Queue} declared: balancer {Balancer}, {Partitions} partitions")]
    public static partial void LogInformationQueueDeclared(ILogger logger, string queue, string balancer, int partitions);

    [LoggerMessage(EventId = 7010, Level = LogLevel.Information, Message = "Task queue {Queue} removed")]
    public static partial void LogInformationQueueRemoved(ILogger logger, string queue);

    [LoggerMessage(EventId = 7011, Level = LogLevel.Warning, Message = "Task queue {Queue} was removed but a task reached its partition {Partition}; the queue is declared again")]
    public static partial void LogWarningQueueRedeclared(ILogger logger, string queue, int partition);

    [LoggerMessage(EventId = 7012, Level = LogLevel.Debug, Message = "Scheduler partition {Partition} idle; retired")]
    public static partial void LogDebugSchedulerRetired(ILogger logger, string partition);

    [LoggerMessage(EventId = 7013, Level = LogLevel.Warning, Message = "Scheduler partition {Partition} could not retire; it stays active and tries again when idle")]
    public static partial void LogWarningSchedulerRetireFailed(ILogger logger, string partition, Exception exception);

    [LoggerMessage(EventId = 7014, Level = LogLevel.Warning, Message = "Task {TaskId}: the next step of its chain was refused ({Code}); the chain stops here")]
    public static partial void LogWarningChainStepRefused(ILogger logger, string taskId, string code, Exception exception);
}
