namespace Granary.Queues;

/// <summary>Per-queue rules a partition applies.</summary>
/// <param name="MaxDeliveries">Deliveries after which a message that is still not acked goes to the dead-letter list.</param>
/// <param name="DeduplicationWindow">How long a message id is remembered for idempotent enqueue.</param>
public sealed record QueuePartitionSettings(int MaxDeliveries, TimeSpan DeduplicationWindow)
{
    /// <summary>5 deliveries, 5 minute window.</summary>
    public static QueuePartitionSettings Default { get; } = new(5, TimeSpan.FromMinutes(5));
}
