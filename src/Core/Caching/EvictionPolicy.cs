namespace Granary.Caching;

/// <summary>What a shard does when its memory bound is reached.</summary>
public enum EvictionPolicy
{
    /// <summary>Refuse writes that may grow memory with Redis's OOM error.</summary>
    NoEviction,

    /// <summary>Evict the least recently used key (sampled, like Redis <c>allkeys-lru</c>).</summary>
    Lru,

    /// <summary>Evict the least frequently used key (Redis's logarithmic counter with decay, <c>allkeys-lfu</c>).</summary>
    Lfu,

    /// <summary>Evict keys with the nearest expiry first (<c>volatile-ttl</c>); when no key has a TTL, fall back to LRU.</summary>
    TtlFirst,
}

/// <summary>Settings of one <see cref="CacheKeyspace"/> (one shard).</summary>
public sealed record CacheKeyspaceOptions
{
    /// <summary>Memory bound in estimated bytes, at least 1 (a keyspace is never unbounded). Default 64 MiB.</summary>
    public long MaxMemoryBytes { get; init; } = 64L * 1024 * 1024;

    /// <summary>Eviction policy when <see cref="MaxMemoryBytes"/> is reached. Default <see cref="EvictionPolicy.Lru"/>.</summary>
    public EvictionPolicy EvictionPolicy { get; init; } = EvictionPolicy.Lru;

    /// <summary>Keys sampled per eviction (Redis <c>maxmemory-samples</c>). Default 5.</summary>
    public int EvictionSamples { get; init; } = 5;

    /// <summary>Longest key in characters. Default 256 (<c>Limits.MaxKeyLength</c>).</summary>
    public int MaxKeyLength { get; init; } = 256;

    /// <summary>Longest string value or element in characters. Default 64 Ki (<c>Limits.MaxValueLength</c>).</summary>
    public int MaxValueLength { get; init; } = 64 * 1024;

    /// <summary>Longest KEYS or SCAN MATCH pattern in characters. Default 512 (<c>Limits.Caching.MaxPatternLength</c>).</summary>
    public int MaxPatternLength { get; init; } = 512;

    /// <summary>Most wildcards (<c>*</c> runs, <c>?</c>, classes) in a pattern. Default 64 (<c>Limits.Caching.MaxPatternWildcards</c>).</summary>
    public int MaxPatternWildcards { get; init; } = 64;

    /// <summary>Most keys SCAN visits in one call, whatever COUNT asks. Default 1,000 (<c>Limits.Caching.MaxScanCount</c>).</summary>
    public int MaxScanCount { get; init; } = 1_000;

    /// <summary>Largest shard KEYS examines; on a larger one it is refused (use SCAN). Default 100,000 (<c>Limits.Caching.MaxKeysPerKeysCommand</c>).</summary>
    public int MaxKeysPerKeysCommand { get; init; } = 100_000;

    /// <summary>
    /// Most elements SRANDMEMBER or HRANDFIELD with a negative count (repeats allowed) returns beyond the
    /// collection's own size; a larger count is refused, so one request cannot build an unbounded reply. Default 10,000.
    /// </summary>
    public int MaxRandomCount { get; init; } = 10_000;

    /// <summary>Seed of the sampling random source (eviction and active expiry), for reproducible tests.</summary>
    public int RandomSeed { get; init; } = 12345;
}

/// <summary>Counters of one keyspace.</summary>
public sealed record CacheStatistics
{
    /// <summary>Live keys (including expired keys not yet reclaimed).</summary>
    public long Keys { get; init; }

    /// <summary>Keys with a TTL.</summary>
    public long KeysWithTtl { get; init; }

    /// <summary>Estimated bytes used.</summary>
    public long UsedBytes { get; init; }

    /// <summary>Memory bound.</summary>
    public long MaxMemoryBytes { get; init; }

    /// <summary>Read lookups that found the key.</summary>
    public long Hits { get; init; }

    /// <summary>Read lookups that did not.</summary>
    public long Misses { get; init; }

    /// <summary>Keys evicted for memory.</summary>
    public long Evictions { get; init; }

    /// <summary>Keys removed because their TTL passed (lazily or by the active cycle).</summary>
    public long Expirations { get; init; }

    /// <summary>Commands executed.</summary>
    public long Commands { get; init; }

    /// <summary>Writes refused with the OOM error.</summary>
    public long OutOfMemoryRejections { get; init; }

    /// <summary>Storage writes made by a persistent shard (one per group commit or snapshot).</summary>
    public long StorageWrites { get; init; }

    /// <summary>Key rows written or deleted by those storage writes.</summary>
    public long KeysPersisted { get; init; }

    /// <summary>Keys a persistent shard loaded from storage when it activated.</summary>
    public long KeysLoaded { get; init; }

    /// <summary>Loads from the backing table (read-through misses, after single-flight collapsing).</summary>
    public long BackingLoads { get; init; }

    /// <summary>Writes to the backing table (write-through, write-behind flushes).</summary>
    public long BackingWrites { get; init; }

    /// <summary>Near-caches subscribed to invalidations.</summary>
    public long Subscribers { get; init; }

    /// <summary>Write-behind rows acknowledged but not yet in the backing table.</summary>
    public long WriteBehindPending { get; init; }

    /// <summary>Write-behind row writes that failed and were queued again.</summary>
    public long WriteBehindFailedWrites { get; init; }

    /// <summary>Write-behind writes refused because the shard's queue was full.</summary>
    public long WriteBehindRefused { get; init; }

    /// <summary>Backing versions the shard remembers (cached keys of a backing table, and keys with table writes in flight or queued).</summary>
    public long BackingVersions { get; init; }

    /// <summary>Sums two sets of counters (shards of one cache).</summary>
    public CacheStatistics Add(CacheStatistics other)
    {
        ArgumentNullException.ThrowIfNull(other);
        return new()
        {
            Keys = Keys + other.Keys,
            KeysWithTtl = KeysWithTtl + other.KeysWithTtl,
            UsedBytes = UsedBytes + other.UsedBytes,
            MaxMemoryBytes = MaxMemoryBytes + other.MaxMemoryBytes,
            Hits = Hits + other.Hits,
            Misses = Misses + other.Misses,
            Evictions = Evictions + other.Evictions,
            Expirations = Expirations + other.Expirations,
            Commands = Commands + other.Commands,
            OutOfMemoryRejections = OutOfMemoryRejections + other.OutOfMemoryRejections,
            StorageWrites = StorageWrites + other.StorageWrites,
            KeysPersisted = KeysPersisted + other.KeysPersisted,
            KeysLoaded = KeysLoaded + other.KeysLoaded,
            BackingLoads = BackingLoads + other.BackingLoads,
            BackingWrites = BackingWrites + other.BackingWrites,
            Subscribers = Subscribers + other.Subscribers,
            WriteBehindPending = WriteBehindPending + other.WriteBehindPending,
            WriteBehindFailedWrites = WriteBehindFailedWrites + other.WriteBehindFailedWrites,
            WriteBehindRefused = WriteBehindRefused + other.WriteBehindRefused,
            BackingVersions = BackingVersions + other.BackingVersions,
        };
    }
}
