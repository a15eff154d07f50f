namespace Granary.Queues;

/// <summary>One message held by a <see cref="QueuePartitionLedger"/>.</summary>
public sealed class QueuedMessage
{
    internal QueuedMessage(long sequence, string id, string? key, byte[]? body, DateTimeOffset enqueuedAt, DateTimeOffset visibleAt)
    {
        Sequence = sequence;
        Id = id;
        Key = key;
        Body = body;
        EnqueuedAt = enqueuedAt;
        VisibleAt = visibleAt;
    }

    /// <summary>Position in the partition: strictly increasing in enqueue order.</summary>
    public long Sequence { get; }

    /// <summary>The producer's message id (the idempotency key).</summary>
    public string Id { get; }

    /// <summary>Ordering key: messages with the same key are delivered one at a time, in order.</summary>
    public string? Key { get; }

    /// <summary>Payload, or null while only storage holds it (leased, dead-lettered, or redelivered and not leased again yet).</summary>
    public byte[]? Body { get; internal set; }

    /// <summary>When it was accepted.</summary>
    public DateTimeOffset EnqueuedAt { get; }

    /// <summary>Not delivered before this time (delay, nack delay).</summary>
    public DateTimeOffset VisibleAt { get; internal set; }

    /// <summary>How many times it has been leased.</summary>
    public int Deliveries { get; internal set; }

    /// <summary>Current status.</summary>
    public QueueMessageStatus Status { get; internal set; }

    /// <summary>The current lease token (0 when not in flight).</summary>
    public long LeaseToken { get; internal set; }

    /// <summary>The consumer holding the lease.</summary>
    public string? LeaseHolder { get; internal set; }

    /// <summary>When the current lease ends.</summary>
    public DateTimeOffset LeaseExpiresAt { get; internal set; }

    /// <summary>Whether its id is remembered for deduplication (false for ids the partition generated).</summary>
    public bool Deduplicated { get; internal set; } = true;

    /// <summary>Accepted beyond the memory window: once its write is durable it is held only in storage.</summary>
    internal bool Spilled { get; set; }

    /// <summary>Why it was dead-lettered.</summary>
    public string? DeadLetterReason { get; internal set; }
}
