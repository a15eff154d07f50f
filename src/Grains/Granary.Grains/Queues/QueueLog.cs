using Microsoft.Extensions.Logging;

namespace Granary.Queues;

internal static partial class QueueLog
{
    [LoggerMessage(EventId = 5001, Level = LogLevel.Information, Message = "Queue partition {Partition} recovered {Messages} messages (epoch {Epoch}) in {ElapsedMs:F0} ms")]
    public static partial void LogInformationRecovered(ILogger logger, string partition, int messages, long epoch, double elapsedMs);

    [LoggerMessage(EventId = 5002, Level = LogLevel.Warning, Message = "Queue partition {Partition} storage write of {Changes} changes failed; deactivating to reload")]
    public static partial void LogWarningWriteFailed(ILogger logger, Exception exception, string partition, int changes);

    [LoggerMessage(EventId = 5003, Level = LogLevel.Warning, Message = "Queue {Queue}: partition {Partition} did not answer a dequeue")]
    public static partial void LogWarningPartitionUnavailable(ILogger logger, Exception exception, string queue, int partition);

    [LoggerMessage(EventId = 5004, Level = LogLevel.Information, Message = "Queue {Queue} created with {Partitions} partitions")]
    public static partial void LogInformationCreated(ILogger logger, string queue, int partitions);
}
