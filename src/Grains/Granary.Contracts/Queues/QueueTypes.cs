namespace Granary.Queues;

/// <summary>How a queue is made. Zero/null fields take the cluster's defaults (<c>Granary:Queues</c>).</summary>
/// <param name="Partitions">Partitions (0: <c>DefaultPartitions</c>).</param>
/// <param name="MaxDeliveries">Deliveries before dead-lettering (0: <c>DefaultMaxDeliveries</c>).</param>
/// <param name="DeduplicationWindow">How long message ids are remembered (null: <c>DefaultDeduplicationWindow</c>).</param>
/// <param name="MaxDepth">
/// Most messages the queue holds that are not acked or purged (ready, delayed, in flight and
/// dead-lettered), at most the configured <c>MaxDepthCeiling</c>; each partition holds at most its
/// share (rounded up). 0: <c>DefaultMaxDepth</c>.
/// </param>
[GenerateSerializer, Alias("granary.queues.definition")]
public sealed record QueueDefinition(
    [property: Id(0)] int Partitions = 0,
    [property: Id(1)] int MaxDeliveries = 0,
    [property: Id(2)] TimeSpan? DeduplicationWindow = null,
    [property: Id(3)] long MaxDepth = 0);

/// <summary>A queue as created.</summary>
/// <param name="MaxDepth">Most messages the queue holds that are not acked or purged (see <see cref="QueueDefinition.MaxDepth"/>).</param>
[GenerateSerializer, Alias("granary.queues.info")]
public sealed record QueueInfo(
    [property: Id(0)] string Name,
    [property: Id(1)] int Partitions,
    [property: Id(2)] int MaxDeliveries,
    [property: Id(3)] TimeSpan DeduplicationWindow,
    [property: Id(4)] DateTimeOffset CreatedAt,
    [property: Id(5)] long MaxDepth = 0)
{
    /// <summary>Messages one partition may hold: its share of <see cref="MaxDepth"/>, rounded up.</summary>
    public long PartitionMaxDepth => (MaxDepth + Partitions - 1) / Partitions;
}

/// <summary>A message to enqueue. A null id gets a fresh one (and no deduplication).</summary>
[GenerateSerializer, Alias("granary.queues.message-input")]
public sealed record QueueMessageInput(
    [property: Id(0)] byte[] Body,
    [property: Id(1)] string? Id = null,
    [property: Id(2)] string? Key = null,
    [property: Id(3)] TimeSpan Delay = default);

/// <summary>Confirmation of an enqueue: the message is durable.</summary>
[GenerateSerializer, Alias("granary.queues.enqueued")]
public sealed record EnqueueResult(
    [property: Id(0)] string Id,
    [property: Id(1)] int Partition,
    [property: Id(2)] long Sequence,
    [property: Id(3)] bool Duplicate);

/// <summary>A leased message. Settle it with <see cref="Receipt"/> before <see cref="LeaseExpiresAt"/>.</summary>
[GenerateSerializer, Alias("granary.queues.delivery")]
public sealed record QueueDelivery(
    [property: Id(0)] string Receipt,
    [property: Id(1)] string Id,
    [property: Id(2)] string? Key,
    [property: Id(3)] byte[] Body,
    [property: Id(4)] DateTimeOffset EnqueuedAt,
    [property: Id(5)] int Deliveries,
    [property: Id(6)] DateTimeOffset LeaseExpiresAt,
    [property: Id(7)] int Partition);

/// <summary>What one partition's dequeue found.</summary>
[GenerateSerializer, Alias("granary.queues.partition-dequeue")]
public sealed record PartitionDequeueResult(
    [property: Id(0)] IReadOnlyList<QueueDelivery> Deliveries,
    [property: Id(1)] bool MoreAvailable,
    [property: Id(2)] DateTimeOffset? NextWakeUp);

/// <summary>A message in a dead-letter list.</summary>
[GenerateSerializer, Alias("granary.queues.dead-letter")]
public sealed record DeadLetterMessage(
    [property: Id(0)] int Partition,
    [property: Id(1)] long Sequence,
    [property: Id(2)] string Id,
    [property: Id(3)] string? Key,
    [property: Id(4)] byte[] Body,
    [property: Id(5)] int Deliveries,
    [property: Id(6)] string Reason,
    [property: Id(7)] DateTimeOffset EnqueuedAt);

/// <summary>
/// Counts and rates of one partition. <see cref="Ready"/> and <see cref="Delayed"/> count the
/// messages in its memory window; <see cref="Stored"/> those beyond it, held only in storage (ready
/// or delayed: their delays are read when they come into memory). <see cref="BodiesInMemory"/> is
/// what the window costs; <see cref="MaxDepth"/> is the partition's share of the queue's max depth.
/// </summary>
[GenerateSerializer, Alias("granary.queues.partition-stats")]
public sealed record PartitionStats(
    [property: Id(0)] int Partition,
    [property: Id(1)] int Ready,
    [property: Id(2)] int Delayed,
    [property: Id(3)] int InFlight,
    [property: Id(4)] int DeadLettered,
    [property: Id(5)] long Enqueued,
    [property: Id(6)] long Acked,
    [property: Id(7)] long Redelivered,
    [property: Id(8)] double EnqueuePerSecond,
    [property: Id(9)] double AckPerSecond,
    [property: Id(10)] long StorageWrites,
    [property: Id(11)] string HostedBy,
    [property: Id(12)] long Stored = 0,
    [property: Id(13)] int BodiesInMemory = 0,
    [property: Id(14)] long MaxDepth = 0)
{
    /// <summary>Messages not yet acked or dead-lettered: ready + delayed + in flight + held only in storage.</summary>
    public long Depth => Ready + Delayed + InFlight + Stored;
}

/// <summary>A queue's stats: totals and one row per partition.</summary>
[GenerateSerializer, Alias("granary.queues.stats")]
public sealed record QueueStats(
    [property: Id(0)] string Queue,
    [property: Id(1)] IReadOnlyList<PartitionStats> Partitions)
{
    /// <summary>Sum over partitions of ready + delayed + in flight + held only in storage.</summary>
    public long Depth => Partitions.Sum(p => p.Depth);

    /// <summary>Sum of ready.</summary>
    public long Ready => Partitions.Sum(p => (long)p.Ready);

    /// <summary>Sum of delayed.</summary>
    public long Delayed => Partitions.Sum(p => (long)p.Delayed);

    /// <summary>Sum of messages held only in storage, beyond the partitions' memory windows.</summary>
    public long Stored => Partitions.Sum(p => p.Stored);

    /// <summary>Sum of in flight.</summary>
    public long InFlight => Partitions.Sum(p => (long)p.InFlight);

    /// <summary>Sum of dead-lettered.</summary>
    public long DeadLettered => Partitions.Sum(p => (long)p.DeadLettered);

    /// <summary>Sum of enqueue rates (messages/s over the last 10 s).</summary>
    public double EnqueuePerSecond => Partitions.Sum(p => p.EnqueuePerSecond);

    /// <summary>Sum of ack rates (messages/s over the last 10 s).</summary>
    public double AckPerSecond => Partitions.Sum(p => p.AckPerSecond);
}
