namespace Granary.Caching;

/// <summary>Settings of every cache, bound from <c>Granary:Caching</c>.</summary>
public sealed class CacheShardOptions
{
    /// <summary>Configuration section.</summary>
    public const string SectionName = "Granary:Caching";

    /// <summary>Shards of a cache created without an explicit count. Default 8.</summary>
    public int DefaultShards { get; set; } = 8;

    /// <summary>Most shards a cache may have. Default 1,024.</summary>
    public int MaxShards { get; set; } = 1024;

    /// <summary>Virtual nodes per shard on the placement ring. Default 160.</summary>
    public int VirtualNodesPerShard { get; set; } = 160;

    /// <summary>
    /// Memory bound per shard, in estimated bytes, of a cache created without one: 1 up to
    /// <see cref="MemoryCeilingBytesPerShard"/> (a cache is never unbounded). Default 64 MiB.
    /// </summary>
    public long MaxMemoryBytesPerShard { get; set; } = 64L * 1024 * 1024;

    /// <summary>
    /// The largest memory bound per shard a cache may have, in estimated bytes: creating a cache with a larger
    /// one (or 0) is refused, and a cache whose stored bound is larger (or 0, from before the ceiling) gets
    /// this one. Default 256 MiB.
    /// </summary>
    public long MemoryCeilingBytesPerShard { get; set; } = 256L * 1024 * 1024;

    /// <summary>The memory bound a shard applies for a cache that asked for <paramref name="requested"/> (null: the default).</summary>
    public long EffectiveMaxMemoryBytes(long? requested) =>
        (requested ?? MaxMemoryBytesPerShard) is var bytes && bytes >= 1 && bytes <= MemoryCeilingBytesPerShard ? bytes : MemoryCeilingBytesPerShard;

    /// <summary>Eviction policy: NoEviction, Lru, Lfu or TtlFirst. Default Lru.</summary>
    public EvictionPolicy EvictionPolicy { get; set; } = EvictionPolicy.Lru;

    /// <summary>Keys sampled per eviction. Default 5.</summary>
    public int EvictionSamples { get; set; } = 5;

    /// <summary>Longest value or element, in characters: 1..<see cref="Limits.Caching.MaxValueLength"/> (64 Ki, the default).</summary>
    public int MaxValueLength { get; set; } = Limits.Caching.MaxValueLength;

    /// <summary>Period of the active expiry cycle. Default 100 ms.</summary>
    public TimeSpan ActiveExpiryInterval { get; set; } = TimeSpan.FromMilliseconds(100);

    /// <summary>Snapshot period of a <see cref="CachePersistence.Snapshot"/> cache created without one. Default 1 s.</summary>
    public TimeSpan SnapshotInterval { get; set; } = TimeSpan.FromSeconds(1);

    /// <summary>
    /// Where write-through and snapshot caches keep their rows: <c>Auto</c> (the PostgreSQL shards when grain
    /// storage uses them, else process memory), <c>Postgres</c> or <c>Memory</c>. Default Auto.
    /// </summary>
    public CacheStoreMode Store { get; set; } = CacheStoreMode.Auto;

    /// <summary>
    /// PostgreSQL connection string of the database holding the tables caches front (read-through,
    /// write-through, write-behind). Empty: a process-wide in-memory table stands in. Default empty.
    /// </summary>
    public string BackingConnectionString { get; set; } = "";

    /// <summary>TTL of a value a read-through loaded from the backing table. Default 5 minutes.</summary>
    public TimeSpan ReadThroughTtl { get; set; } = TimeSpan.FromMinutes(5);

    /// <summary>Write-behind delay of a cache created without one: a write reaches the table within this. Default 500 ms.</summary>
    public TimeSpan WriteBehindDelay { get; set; } = TimeSpan.FromMilliseconds(500);

    /// <summary>
    /// Most write-behind rows a shard holds for its backing table (acknowledged, not yet written); a
    /// write-behind of another key beyond this is refused with <c>RESOURCE_EXHAUSTED</c>. Default 10,000.
    /// </summary>
    public int WriteBehindMaxPendingRows { get; set; } = 10_000;

    /// <summary>Longest wait between write-behind flushes while the backing table keeps failing (the waits double from the write-behind delay up to this). Default 30 s.</summary>
    public TimeSpan WriteBehindMaxRetryDelay { get; set; } = TimeSpan.FromSeconds(30);

    /// <summary>
    /// How long a deactivating shard keeps retrying write-behind rows the backing table refuses before it
    /// gives them up (logged, and counted in <c>granary.caching.write_behind.dropped</c>). Default 10 s.
    /// </summary>
    public TimeSpan WriteBehindDrainTimeout { get; set; } = TimeSpan.FromSeconds(10);

    /// <summary>A near-cache subscription not renewed within this is dropped. Default 1 minute.</summary>
    public TimeSpan SubscriptionExpiry { get; set; } = TimeSpan.FromMinutes(1);

    /// <summary>
    /// Whether this silo's RESP and Memcached endpoints run commands on a volatile shard active in this
    /// silo without a grain call (<see cref="ILocalCacheShards"/>). Default true; false sends every
    /// command through the shards' grain calls, as from an external client.
    /// </summary>
    public bool DirectLocalCommands { get; set; } = true;

    /// <summary>The keyspace settings these options give.</summary>
    public CacheKeyspaceOptions ToKeyspaceOptions() => new()
    {
        MaxMemoryBytes = EffectiveMaxMemoryBytes(null),
        EvictionPolicy = EvictionPolicy,
        EvictionSamples = EvictionSamples,
        MaxKeyLength = Limits.MaxKeyLength,
        MaxValueLength = MaxValueLength,
        MaxPatternLength = Limits.Caching.MaxPatternLength,
        MaxPatternWildcards = Limits.Caching.MaxPatternWildcards,
        MaxScanCount = Limits.Caching.MaxScanCount,
        MaxKeysPerKeysCommand = Limits.Caching.MaxKeysPerKeysCommand,
    };
}

/// <summary>Where persistent cache shards keep their rows.</summary>
public enum CacheStoreMode
{
    /// <summary>PostgreSQL shards when grain storage uses them, otherwise memory.</summary>
    Auto,

    /// <summary>The PostgreSQL shards of <c>Granary:Storage:Shards</c>.</summary>
    Postgres,

    /// <summary>Process memory (lost with the process: for tests and the embedded silo).</summary>
    Memory,
}
