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

    /// <summary>Memory bound per shard in estimated bytes; 0 = unbounded. Default 64 MiB.</summary>
    public long MaxMemoryBytesPerShard { get; set; } = 64L * 1024 * 1024;

    /// <summary>Eviction policy: NoEviction, Lru, Lfu or TtlFirst. Default Lru.</summary>
    public EvictionPolicy EvictionPolicy { get; set; } = EvictionPolicy.Lru;

    /// <summary>Keys sampled per eviction. Default 5.</summary>
    public int EvictionSamples { get; set; } = 5;

    /// <summary>Longest value or element, in characters. Default 1 MiB.</summary>
    public int MaxValueLength { get; set; } = 1024 * 1024;

    /// <summary>Period of the active expiry cycle. Default 100 ms.</summary>
    public TimeSpan ActiveExpiryInterval { get; set; } = TimeSpan.FromMilliseconds(100);

    /// <summary>The keyspace settings these options give.</summary>
    public CacheKeyspaceOptions ToKeyspaceOptions() => new()
    {
        MaxMemoryBytes = MaxMemoryBytesPerShard,
        EvictionPolicy = EvictionPolicy,
        EvictionSamples = EvictionSamples,
        MaxKeyLength = Limits.MaxKeyLength,
        MaxValueLength = MaxValueLength,
    };
}
