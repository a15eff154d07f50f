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
}
