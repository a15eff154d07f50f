namespace Granary.Caching;

/// <summary>What a cache shard keeps when its silo dies.</summary>
public enum CachePersistence
{
    /// <summary>Nothing (Memcached semantics): a lost shard comes back empty and never serves stale data.</summary>
    Volatile = 0,

    /// <summary>
    /// Every write is acknowledged only after its keys' rows are durable in the SQL shards
    /// (group commit: concurrent writes to a shard share one storage write). The shard reloads on activation.
    /// </summary>
    WriteThrough = 1,

    /// <summary>
    /// The keys changed since the last snapshot are written every snapshot interval (and on
    /// deactivation); a silo loss loses at most the writes of the last interval plus one storage write.
    /// </summary>
    Snapshot = 2,
}

/// <summary>
/// Per-cache settings, chosen when the cache is created and persisted in its definition.
/// Null members take the silo's <c>Granary:Caching</c> defaults.
/// </summary>
/// <example><code>
/// await grains.GetGrain&lt;ICacheDefinitionGrain&gt;("orders").CreateAsync(4, new CacheSettings(CachePersistence.WriteThrough, EvictionPolicy.Lfu));
/// </code></example>
[GenerateSerializer, Alias("granary.caching.settings")]
public sealed record CacheSettings(
    [property: Id(0)] CachePersistence Persistence = CachePersistence.Volatile,
    [property: Id(1)] EvictionPolicy? EvictionPolicy = null,
    [property: Id(2)] long? MaxMemoryBytesPerShard = null,
    [property: Id(3)] int? SnapshotIntervalMilliseconds = null,
    [property: Id(4)] string? BackingTable = null,
    [property: Id(5)] int? WriteBehindDelayMilliseconds = null)
{
    /// <summary>Volatile, with the silo's eviction policy and memory bound.</summary>
    public static CacheSettings Default { get; } = new();

    /// <summary>A short description, e.g. <c>write-through, lfu, 64 MiB/shard</c>.</summary>
    public string Describe() => string.Join(", ", new[]
    {
        Persistence switch
        {
            CachePersistence.WriteThrough => "write-through",
            CachePersistence.Snapshot => string.Create(System.Globalization.CultureInfo.InvariantCulture, $"snapshot every {SnapshotIntervalMilliseconds?.ToString(System.Globalization.CultureInfo.InvariantCulture) ?? "default"} ms"),
            _ => "volatile",
        },
        EvictionPolicy?.ToString().ToLowerInvariant() ?? "default eviction",
        MaxMemoryBytesPerShard is { } bytes ? string.Create(System.Globalization.CultureInfo.InvariantCulture, $"{bytes} bytes/shard") : "default memory bound",
    }.Concat(BackingTable is null ? [] : [$"fronts table '{BackingTable}'"]));
}
