namespace Granary.Queues;

/// <summary>Per-queue rules a partition applies.</summary>
/// <param name="MaxDeliveries">Deliveries after which a message that is still not acked goes to the dead-letter list.</param>
/// <param name="DeduplicationWindow">How long a message id is remembered for idempotent enqueue.</param>
public sealed record QueuePartitionSettings(int MaxDeliveries, TimeSpan DeduplicationWindow)
{
    /// <summary>5 deliveries, 5 minute window, no memory window and no depth limit.</summary>
    public static QueuePartitionSettings Default { get; } = new(5, TimeSpan.FromMinutes(5));

    /// <summary>
    /// Most ready messages (waiting, delayed, or behind an earlier message of their key) held in
    /// memory with their bodies, the oldest first; later ones stay in storage until the window
    /// drains (see <see cref="QueuePartitionLedger.NextPage"/>). Unbounded by default.
    /// </summary>
    public int MemoryWindow { get; init; } = int.MaxValue;

    /// <summary>
    /// Most messages the partition holds that are not acked or purged (ready, delayed, in flight,
    /// dead-lettered, in storage only, or being written); an enqueue that would exceed it is refused.
    /// Unbounded by default.
    /// </summary>
    public long MaxMessages { get; init; } = long.MaxValue;
}
