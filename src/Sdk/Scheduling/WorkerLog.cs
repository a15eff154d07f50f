using Microsoft.Extensions.Logging;

namespace Granary.Client.Scheduling;

/// <summary>Structured log events of the workers and queue consumers an application runs.</summary>
internal static partial class WorkerLog
{
    [LoggerMessage(EventId = 7101, Level = LogLevel.Information, Message = "Worker {Worker} serves its queue with {Concurrency} slots; task types: {Types}")]
    public static partial void LogInformationWorkerStarted(ILogger logger, string worker, int concurrency, string types);

    [LoggerMessage(EventId = 7102, Level = LogLevel.Warning, Message = "Worker {Worker}: {Step} failed; tried again")]
    public static partial void LogWarningWorkerCallFailed(ILogger logger, string worker, string step, Exception exception);

    [LoggerMessage(EventId = 7103, Level = LogLevel.Warning, Message = "Worker {Worker} stopped with {Running} task(s) unfinished; they run again elsewhere once their leases expire")]
    public static partial void LogWarningWorkerAbandoned(ILogger logger, string worker, int running);

    [LoggerMessage(EventId = 7104, Level = LogLevel.Warning, Message = "Queue consumer of {Queue}: {Step} failed")]
    public static partial void LogWarningConsumerCallFailed(ILogger logger, string queue, string step, Exception exception);

    [LoggerMessage(EventId = 7105, Level = LogLevel.Warning, Message = "Queue consumer of {Queue}: message {MessageId} failed (delivery {Deliveries}); returned to the queue after {Delay}")]
    public static partial void LogWarningMessageFailed(ILogger logger, string queue, string messageId, int deliveries, TimeSpan delay, Exception exception);

    [LoggerMessage(EventId = 7106, Level = LogLevel.Warning, Message = "Queue consumer of {Queue}: message {MessageId} is not a readable {Type}; dead-lettered")]
    public static partial void LogWarningMessageUnreadable(ILogger logger, string queue, string messageId, string type, Exception exception);
}
