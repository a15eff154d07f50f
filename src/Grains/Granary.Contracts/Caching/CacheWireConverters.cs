namespace Granary.Caching;

/// <summary>Wire form of <see cref="CacheStatistics"/>.</summary>
[GenerateSerializer, Alias("granary.caching.statistics")]
public struct CacheStatisticsSurrogate
{
    /// <summary>Keys.</summary>
    [Id(0)] public long Keys;

    /// <summary>Keys with a TTL.</summary>
    [Id(1)] public long KeysWithTtl;

    /// <summary>Used bytes.</summary>
    [Id(2)] public long UsedBytes;

    /// <summary>Memory bound.</summary>
    [Id(3)] public long MaxMemoryBytes;

    /// <summary>Hits.</summary>
    [Id(4)] public long Hits;

    /// <summary>Misses.</summary>
    [Id(5)] public long Misses;

    /// <summary>Evictions.</summary>
    [Id(6)] public long Evictions;

    /// <summary>Expirations.</summary>
    [Id(7)] public long Expirations;

    /// <summary>Commands.</summary>
    [Id(8)] public long Commands;

    /// <summary>OOM rejections.</summary>
    [Id(9)] public long OutOfMemoryRejections;

    /// <summary>Storage writes.</summary>
    [Id(10)] public long StorageWrites;

    /// <summary>Key rows written.</summary>
    [Id(11)] public long KeysPersisted;

    /// <summary>Keys loaded at activation.</summary>
    [Id(12)] public long KeysLoaded;

    /// <summary>Backing loads.</summary>
    [Id(13)] public long BackingLoads;

    /// <summary>Backing writes.</summary>
    [Id(14)] public long BackingWrites;

    /// <summary>Subscribers.</summary>
    [Id(15)] public long Subscribers;

    /// <summary>Write-behind rows pending.</summary>
    [Id(16)] public long WriteBehindPending;

    /// <summary>Write-behind row writes failed.</summary>
    [Id(17)] public long WriteBehindFailedWrites;

    /// <summary>Write-behind writes refused.</summary>
    [Id(18)] public long WriteBehindRefused;

    /// <summary>Backing versions remembered.</summary>
    [Id(19)] public long BackingVersions;
}

/// <summary>Converts <see cref="CacheStatistics"/> to and from its wire form.</summary>
[RegisterConverter]
public sealed class CacheStatisticsSurrogateConverter : IConverter<CacheStatistics, CacheStatisticsSurrogate>
{
    /// <inheritdoc/>
    public CacheStatistics ConvertFromSurrogate(in CacheStatisticsSurrogate s) => new()
    {
        Keys = s.Keys,
        KeysWithTtl = s.KeysWithTtl,
        UsedBytes = s.UsedBytes,
        MaxMemoryBytes = s.MaxMemoryBytes,
        Hits = s.Hits,
        Misses = s.Misses,
        Evictions = s.Evictions,
        Expirations = s.Expirations,
        Commands = s.Commands,
        OutOfMemoryRejections = s.OutOfMemoryRejections,
        StorageWrites = s.StorageWrites,
        KeysPersisted = s.KeysPersisted,
        KeysLoaded = s.KeysLoaded,
        BackingLoads = s.BackingLoads,
        BackingWrites = s.BackingWrites,
        Subscribers = s.Subscribers,
        WriteBehindPending = s.WriteBehindPending,
        WriteBehindFailedWrites = s.WriteBehindFailedWrites,
        WriteBehindRefused = s.WriteBehindRefused,
        BackingVersions = s.BackingVersions,
    };

    /// <inheritdoc/>
    public CacheStatisticsSurrogate ConvertToSurrogate(in CacheStatistics value) => new()
    {
        Keys = value.Keys,
        KeysWithTtl = value.KeysWithTtl,
        UsedBytes = value.UsedBytes,
        MaxMemoryBytes = value.MaxMemoryBytes,
        Hits = value.Hits,
        Misses = value.Misses,
        Evictions = value.Evictions,
        Expirations = value.Expirations,
        Commands = value.Commands,
        OutOfMemoryRejections = value.OutOfMemoryRejections,
        StorageWrites = value.StorageWrites,
        KeysPersisted = value.KeysPersisted,
        KeysLoaded = value.KeysLoaded,
        BackingLoads = value.BackingLoads,
        BackingWrites = value.BackingWrites,
        Subscribers = value.Subscribers,
        WriteBehindPending = value.WriteBehindPending,
        WriteBehindFailedWrites = value.WriteBehindFailedWrites,
        WriteBehindRefused = value.WriteBehindRefused,
        BackingVersions = value.BackingVersions,
    };
}
