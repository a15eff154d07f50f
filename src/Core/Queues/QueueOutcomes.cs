namespace Granary.Queues;

/// <summary>A delivered message and the receipt (sequence + lease token) that settles it.</summary>
public sealed record QueueLease(
    long Sequence,
    long LeaseToken,
    string Id,
    string? Key,
    byte[] Body,
    DateTimeOffset EnqueuedAt,
    int Deliveries,
    DateTimeOffset LeaseExpiresAt);

/// <summary>Result of an enqueue.</summary>
/// <param name="Sequence">The message's sequence (the original one for a duplicate).</param>
/// <param name="Duplicate">True when the id was seen inside the deduplication window: nothing was added.</param>
public readonly record struct EnqueueOutcome(long Sequence, bool Duplicate);

/// <summary>Result of settling (ack, nack, extend) a receipt.</summary>
public enum SettleOutcome
{
    /// <summary>Done.</summary>
    Ok,

    /// <summary>The partition never issued this receipt (or forgot it long ago).</summary>
    UnknownReceipt,

    /// <summary>The message was already acked, purged or dead-lettered.</summary>
    AlreadySettled,

    /// <summary>The lease ended (expired and the message was redelivered or is waiting to be); the receipt is stale.</summary>
    LeaseLost,
}

/// <summary>Counts at one moment.</summary>
public readonly record struct QueuePartitionCounts(int Ready, int Delayed, int InFlight, int DeadLettered, int Pending, long Enqueued, long Acked, long Redelivered);
