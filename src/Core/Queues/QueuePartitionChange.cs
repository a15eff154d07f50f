namespace Granary.Queues;

/// <summary>What a storage write has to record for one message; produced by <see cref="QueuePartitionLedger"/>.</summary>
public enum QueueChangeKind
{
    /// <summary>A new message row.</summary>
    Append,

    /// <summary>The message was acked or purged: keep only its id (for deduplication) until the window ends.</summary>
    Settle,

    /// <summary>Status, delivery count or visibility changed (nack with delay, dead-letter, redrive).</summary>
    Update,

    /// <summary>The message was acked or purged and needs no deduplication record: remove its row.</summary>
    Delete,
}

/// <summary>One durable change, with the message's state when the change was made.</summary>
/// <param name="Kind">What the write records.</param>
/// <param name="Sequence">The message's position in the partition.</param>
/// <param name="Id">The message id.</param>
/// <param name="Key">The message's ordering key, if any.</param>
/// <param name="Body">The body (appends only).</param>
/// <param name="EnqueuedAt">When the message was enqueued.</param>
/// <param name="VisibleAt">When the message can next be delivered.</param>
/// <param name="Deliveries">How many times it was delivered.</param>
/// <param name="Status">Its status after the change.</param>
/// <param name="At">When the change was made.</param>
/// <param name="Deduplicated">False for an id the partition generated (nobody can repeat it): not remembered after a restart.</param>
public sealed record QueuePartitionChange(
    QueueChangeKind Kind,
    long Sequence,
    string Id,
    string? Key,
    byte[]? Body,
    DateTimeOffset EnqueuedAt,
    DateTimeOffset VisibleAt,
    int Deliveries,
    QueueMessageStatus Status,
    DateTimeOffset At,
    bool Deduplicated = true);

/// <summary>
/// A message row as read back from storage (when a partition is opened, or a page of it is read
/// into memory). <see cref="Body"/> is null for settled rows and in reads that leave bodies out;
/// <see cref="Deduplicated"/> is false for ids the partition generated.
/// </summary>
public sealed record StoredQueueMessage(
    long Sequence,
    string Id,
    string? Key,
    byte[]? Body,
    DateTimeOffset EnqueuedAt,
    DateTimeOffset VisibleAt,
    int Deliveries,
    QueueMessageStatus Status,
    bool Settled,
    DateTimeOffset SettledAt,
    bool Deduplicated = true);
