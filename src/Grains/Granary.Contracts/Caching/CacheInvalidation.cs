using Granary.Security;
using Orleans.Concurrency;

namespace Granary.Caching;

/// <summary>
/// Receives invalidations from cache shards (a client's near-cache). Each notice names keys written
/// on a shard after the write happened; the backing-store version is given where known (0 otherwise).
/// </summary>
[Requires(Permission.Internal)]
[Alias("granary.caching.invalidation-observer")]
public interface ICacheInvalidationObserver : IGrainObserver
{
    /// <summary>Keys of <paramref name="notice"/> changed; drop them from the near-cache.</summary>
    [Alias("invalidated"), OneWay]
    Task InvalidatedAsync(CacheInvalidation notice);
}

/// <summary>Keys written on one shard (one notice per shard call that wrote them).</summary>
[GenerateSerializer, Alias("granary.caching.invalidation")]
public sealed record CacheInvalidation(
    [property: Id(0)] string Cache,
    [property: Id(1)] int Shard,
    [property: Id(2)] string[] Keys,
    [property: Id(3)] long[] Versions);

/// <summary>How a backing-store operation ended.</summary>
public enum BackedOutcome
{
    /// <summary>Done.</summary>
    Stored = 0,

    /// <summary>Refused: the store (or the cache) already holds this key at the same or a newer version.</summary>
    OlderVersion = 1,

    /// <summary>The shard handed its keys to a newer ring: refresh the definition and retry.</summary>
    Moved = 2,
}

/// <summary>A read-through read.</summary>
[GenerateSerializer, Alias("granary.caching.backed-read")]
public sealed record BackedRead(
    [property: Id(0)] string? Value,
    [property: Id(1)] long Version,
    [property: Id(2)] bool LoadedFromStore,
    [property: Id(3)] bool Moved = false);

/// <summary>A write through or behind the cache.</summary>
[GenerateSerializer, Alias("granary.caching.backed-write")]
public sealed record BackedWrite(
    [property: Id(0)] BackedOutcome Outcome,
    [property: Id(1)] long CurrentVersion);
