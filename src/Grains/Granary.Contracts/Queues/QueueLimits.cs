using Granary.Errors;

namespace Granary.Queues;

/// <summary>Documented limits of the queue family (docs/queues.md, "Limits").</summary>
public static class QueueLimits
{
    /// <summary>Largest message body: 256 KiB.</summary>
    public const int MaxMessageBytes = 256 * 1024;

    /// <summary>Most messages in one enqueue batch or one dequeue: 1,000.</summary>
    public const int MaxBatch = 1_000;

    /// <summary>Most partitions per queue: 256.</summary>
    public const int MaxPartitions = 256;

    /// <summary>Longest queue name, message id, key or consumer id: 200 characters.</summary>
    public const int MaxNameLength = 200;

    /// <summary>Longest delay or nack delay: 7 days.</summary>
    public static readonly TimeSpan MaxDelay = TimeSpan.FromDays(7);

    /// <summary>Longest visibility timeout: 12 hours.</summary>
    public static readonly TimeSpan MaxVisibilityTimeout = TimeSpan.FromHours(12);

    /// <summary>Longest long-poll wait of one dequeue call: 20 s (below the 30 s call timeout).</summary>
    public static readonly TimeSpan MaxWait = TimeSpan.FromSeconds(20);

    /// <summary>Longest deduplication window: 1 day.</summary>
    public static readonly TimeSpan MaxDeduplicationWindow = TimeSpan.FromDays(1);

    /// <summary>Most deliveries allowed before dead-lettering: 1,000.</summary>
    public const int MaxDeliveries = 1_000;

    /// <summary>Largest max depth of a queue, and of the configured ceiling: 1,000,000,000 messages.</summary>
    public const long MaxDepth = 1_000_000_000;

    /// <summary>Max depth of a queue created without one, unless configured (<c>Granary:Queues:DefaultMaxDepth</c>): 1,000,000 messages.</summary>
    public const long DefaultMaxDepth = 1_000_000;

    /// <summary>Largest max depth a queue may be created with, unless configured (<c>Granary:Queues:MaxDepthCeiling</c>): 10,000,000 messages.</summary>
    public const long DefaultMaxDepthCeiling = 10_000_000;

    /// <summary>Largest memory window of a partition: 1,000,000 messages.</summary>
    public const int MaxMemoryWindow = 1_000_000;

    /// <summary>Checks one message against these limits: a null message or body, an oversize body, an empty or over-long id or key, or a delay outside [0, <see cref="MaxDelay"/>] is an <see cref="InvalidRequestException"/>.</summary>
    public static void Validate(QueueMessageInput? message)
    {
        if (message is null)
        {
            throw new InvalidRequestException("message", "must not be null");
        }

        if (message.Body is null)
        {
            throw new InvalidRequestException("body", "must not be null");
        }

        if (message.Body.Length > MaxMessageBytes)
        {
            throw new InvalidRequestException("body", $"is {message.Body.Length} bytes; the limit is {MaxMessageBytes}");
        }

        if (message.Id is not null)
        {
            Guard.Name(message.Id, "id", MaxNameLength);
        }

        if (message.Key is not null)
        {
            Guard.Name(message.Key, "key", MaxNameLength);
        }

        Guard.InRange(message.Delay, "delay", TimeSpan.Zero, MaxDelay);
    }
}
