namespace Granary.Queues;

/// <summary>
/// A delivered message and the receipt (sequence + lease token) that settles it. <see cref="Body"/>
/// is null when the partition no longer holds it in memory (a redelivery: bodies are dropped once
/// leased): the owner reads it from storage by <see cref="Sequence"/>.
/// </summary>
public sealed record QueueLease(
    long Sequence,
    long LeaseToken,
    string Id,
    string? Key,
    byte[]? Body,
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

    /// <summary>
    /// A receipt from an earlier incarnation for a sequence in the range held only in storage (beyond
    /// the memory window): nothing was changed, and only storage knows whether the message is still
    /// there (the lease ended with that incarnation: <see cref="LeaseLost"/>) or was settled before it
    /// ended (<see cref="AlreadySettled"/>, an ack whose answer was lost). The owner asks storage.
    /// </summary>
    StoredOnly,
}

/// <summary>Counts at one moment.</summary>
/// <param name="Ready">Deliverable now or behind an earlier message of their key, held in memory.</param>
/// <param name="Delayed">Held in memory, not visible before their delay ends.</param>
/// <param name="InFlight">Leased.</param>
/// <param name="DeadLettered">In the dead-letter list.</param>
/// <param name="Pending">Accepted, their storage write not finished.</param>
/// <param name="Enqueued">Confirmed enqueues since the partition was opened.</param>
/// <param name="Acked">Acks since the partition was opened.</param>
/// <param name="Redelivered">Leases that ended without an ack since the partition was opened.</param>
/// <param name="Stored">Confirmed messages held only in storage, beyond the memory window (ready or delayed).</param>
/// <param name="Bodies">Message bodies held in memory.</param>
public readonly record struct QueuePartitionCounts(int Ready, int Delayed, int InFlight, int DeadLettered, int Pending, long Enqueued, long Acked, long Redelivered, long Stored, int Bodies);
