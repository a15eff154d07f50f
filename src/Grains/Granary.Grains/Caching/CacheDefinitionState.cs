namespace Granary.Caching;

/// <summary>Persisted state of <see cref="CacheDefinitionGrain"/>.</summary>
[GenerateSerializer, Alias("granary.caching.definition-state")]
public sealed class CacheDefinitionState
{
    /// <summary>Shard count; 0 before first use.</summary>
    [Id(0)]
    public int Shards { get; set; }

    /// <summary>Ring version, incremented by every reshard.</summary>
    [Id(1)]
    public long Version { get; set; }

    /// <summary>Virtual nodes per shard.</summary>
    [Id(2)]
    public int VirtualNodesPerShard { get; set; }

    /// <summary>Persistence, eviction and memory bound chosen at creation (null: volatile with silo defaults).</summary>
    [Id(3)]
    public CacheSettings? Settings { get; set; }

    /// <summary>The ring version a running reshard is building (0 when none): shards activating meanwhile refuse older versions.</summary>
    [Id(4)]
    public long PendingVersion { get; set; }

    /// <summary>How keys are placed; absent (whole key) in definitions stored before hash slots existed.</summary>
    [Id(5)]
    public CacheKeyPlacement Placement { get; set; }
}
