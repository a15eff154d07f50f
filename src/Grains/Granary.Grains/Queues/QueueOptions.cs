namespace Granary.Queues;

/// <summary>Section <c>Granary:Queues</c>: defaults and tuning of the queue family.</summary>
public sealed class QueueOptions
{
    /// <summary>The configuration section bound to this class.</summary>
    public const string SectionName = "Granary:Queues";

    /// <summary>Partitions of a queue created without a count. Default 4.</summary>
    public int DefaultPartitions { get; set; } = 4;

    /// <summary>Deliveries before dead-lettering, for a queue created without a count. Default 5.</summary>
    public int DefaultMaxDeliveries { get; set; } = 5;

    /// <summary>How long message ids are remembered for idempotent enqueue, by default. Default 5 minutes.</summary>
    public TimeSpan DefaultDeduplicationWindow { get; set; } = TimeSpan.FromMinutes(5);

    /// <summary>
    /// Max depth of a queue created without one: messages it holds that are not acked or purged
    /// (ready, delayed, in flight, dead-lettered); each partition holds at most its share. Default
    /// 1,000,000.
    /// </summary>
    public long DefaultMaxDepth { get; set; } = Limits.Queues.DefaultMaxDepth;

    /// <summary>Largest max depth a queue may be created with. Default 10,000,000 (at most <see cref="Limits.Queues.MaxDepth"/>).</summary>
    public long MaxDepthCeiling { get; set; } = Limits.Queues.DefaultMaxDepthCeiling;

    /// <summary>
    /// Ready messages per partition held in memory with their bodies (the oldest first); later
    /// ones wait in the message store and are read back in pages as the window drains. Default
    /// 1,000, at most <see cref="Limits.Queues.MaxMemoryWindow"/>.
    /// </summary>
    public int MemoryWindow { get; set; } = 1_000;

    /// <summary>How often a partition deletes settled rows older than its dedup window. Default 30 s.</summary>
    public TimeSpan CleanupInterval { get; set; } = TimeSpan.FromSeconds(30);

    /// <summary>
    /// Where partitions keep messages: <c>Auto</c> (PostgreSQL shards when grain storage uses them,
    /// otherwise process memory), <c>Memory</c> or <c>Postgres</c>. Default Auto.
    /// </summary>
    public QueueStoreMode Store { get; set; } = QueueStoreMode.Auto;

    /// <summary>
    /// PostgreSQL store: transactions in flight per shard. Every partition write waiting when one
    /// starts joins it (group commit), so one is usually enough; more overlap round trips to a
    /// distant server. Default 1, at most 16.
    /// </summary>
    public int StoreTransactionsPerShard { get; set; } = 1;
}

/// <summary>Message store choice.</summary>
public enum QueueStoreMode
{
    /// <summary>Follow <c>Granary:Storage:Mode</c>.</summary>
    Auto,

    /// <summary>Process memory: lost with the silo (embedded mode, fast tests).</summary>
    Memory,

    /// <summary>A table of the queue family in each PostgreSQL shard.</summary>
    Postgres,
}
