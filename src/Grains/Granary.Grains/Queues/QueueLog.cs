using Microsoft.Extensions.Logging;

namespace Granary.Queues;

internal static partial class QueueLog
{
    [LoggerMessage(EventId = 5001, Level = LogLevel.Information, Message = "Queue partition {Partition} recovered (epoch {Epoch}) in {ElapsedMs:F0} ms: indexed {Rows} rows, {Bodies} bodies in memory, {Stored} messages left in storage")]
    public static partial void LogInformationRecovered(ILogger logger, string partition, long epoch, double elapsedMs, long rows, int bodies, long stored);

    [LoggerMessage(EventId = 5002, Level = LogLevel.Warning, Message = "Queue partition {Partition} storage write of {Changes} changes failed; deactivating to reload")]
    public static partial void LogWarningWriteFailed(ILogger logger, Exception exception, string partition, int changes);

    [LoggerMessage(EventId = 5003, Level = LogLevel.Warning, Message = "Queue {Queue}: partition {Partition} did not answer a dequeue")]
    public static partial void LogWarningPartitionUnavailable(ILogger logger, Exception exception, string queue, int partition);

    [LoggerMessage(EventId = 5005, Level = LogLevel.Warning, Message = "Queue partition {Partition} could not read messages from storage into its memory window; the next dequeue tries again")]
    public static partial void LogWarningPageFailed(ILogger logger, Exception exception, string partition);

    [LoggerMessage(EventId = 5006, Level = LogLevel.Warning, Message = "Queue partition {Partition}: storage has no body for leased message {Sequence}; not delivered")]
    public static partial void LogWarningBodyMissing(ILogger logger, string partition, long sequence);

    [LoggerMessage(EventId = 5004, Level = LogLevel.Information, Message = "Queue {Queue} created with {Partitions} partitions")]
    public static partial void LogInformationCreated(ILogger logger, string queue, int partitions);
}
