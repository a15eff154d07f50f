using Granary.Security;
using Orleans.Concurrency;

namespace Granary.Caching;

/// <summary>
/// One shard of a named cache (grain key <c>"&lt;cache&gt;/&lt;shard&gt;"</c>): an in-memory keyspace with
/// Redis semantics. Commands arrive in batches so that a client can coalesce many concurrent
/// operations bound for the same shard into one grain call.
/// </summary>
/// <example><code>
/// var shard = grains.GetGrain&lt;ICacheShardGrain&gt;(CacheDefinition.ShardKey("catalogue", 3));
/// var replies = (await shard.ExecuteAsync(new(new[] { new[] { "SET", "k", "v" }, new[] { "GET", "k" } }), ringVersion: 1)).Value;
/// </code></example>
[Requires(Permission.Internal)]
[Alias("granary.caching.shard")]
public interface ICacheShardGrain : IGrainWithStringKey
{
    /// <summary>
    /// Runs the commands in order and returns one reply per command (errors are replies, as in Redis).
    /// At most <see cref="Limits.MaxBatchSize"/> commands per call. Both directions are marked
    /// immutable (neither side changes them after the call), so an in-process call is not deep-copied.
    /// When <paramref name="ringVersion"/> is older than a ring this shard has handed keys over for, nothing
    /// runs and every reply is <see cref="CacheReply.Moved"/> (<see cref="CacheReply.IsMoved"/>): refresh the ring and send again.
    /// </summary>
    [Requires(Permission.CacheWrite)]
    [Alias("execute")]
    Task<Immutable<CacheReply[]>> ExecuteAsync(Immutable<string[][]> commands, long ringVersion);

    /// <summary>
    /// WATCH: registers <paramref name="keys"/> for a modification check and returns the keyspace's incarnation
    /// followed by one stamp per key (for <see cref="ExecuteWatchedAsync"/>); empty when
    /// <paramref name="ringVersion"/> is older than this shard's ring (refresh the ring and send again).
    /// </summary>
    [Requires(Permission.CacheRead)]
    [Alias("watch")]
    Task<long[]> WatchAsync(string[] keys, long ringVersion);

    /// <summary>
    /// EXEC after WATCH: <see cref="ExecuteAsync"/> if none of <paramref name="watched"/> changed since
    /// <see cref="WatchAsync"/> answered <paramref name="stamps"/>, checked in the same turn as the commands run;
    /// null (nothing runs) if one did, or if the shard was reactivated or handed keys over since.
    /// </summary>
    [Requires(Permission.CacheWrite)]
    [Alias("execute-watched")]
    Task<Immutable<CacheReply[]>?> ExecuteWatchedAsync(Immutable<string[][]> commands, string[] watched, long[] stamps, long ringVersion);

    /// <summary>Counters of this shard.</summary>
    [Requires(Permission.CacheRead)]
    [Alias("stats")]
    Task<CacheStatistics> GetStatisticsAsync();

    /// <summary>Removes and returns the entries that <paramref name="target"/> places on another shard (resharding).</summary>
    [Alias("export-moved")]
    Task<CacheEntryExport[]> ExportMovedAsync(CacheDefinition target);

    /// <summary>Stores migrated entries (an existing key is overwritten by the migrated one).</summary>
    [Alias("import")]
    Task ImportAsync(CacheEntryExport[] entries);

    /// <summary>
    /// Read-through: the cached value of <paramref name="key"/>, or on a miss a load from the cache's backing
    /// table, stored with the silo's read-through TTL. Concurrent misses for one key, from any client,
    /// cause one load: this shard is the key's only owner and makes them wait for the load in progress.
    /// </summary>
    [Requires(Permission.CacheRead)]
    [Alias("read-through")]
    Task<BackedRead> ReadThroughAsync(string key, long ringVersion);

    /// <summary>
    /// Write-through: writes <paramref name="value"/> (null deletes) at <paramref name="version"/> to the backing
    /// table, refused when the table holds the same or a newer version, then to the cache; returns after both.
    /// </summary>
    [Requires(Permission.CacheWrite)]
    [Alias("write-through")]
    Task<BackedWrite> WriteThroughAsync(string key, string? value, long version, long ringVersion);

    /// <summary>
    /// Write-behind: writes the cache now (refused when the cache knows the same or a newer version) and the
    /// backing table within the cache's write-behind delay, or when the shard deactivates, whichever comes first.
    /// </summary>
    [Requires(Permission.CacheWrite)]
    [Alias("write-behind")]
    Task<BackedWrite> WriteBehindAsync(string key, string? value, long version, long ringVersion);

    /// <summary>Subscribes (or renews) <paramref name="observer"/> to invalidations of keys written on this shard; returns this activation's id.</summary>
    [Requires(Permission.CacheRead)]
    [Alias("subscribe")]
    Task<Guid> SubscribeAsync(ICacheInvalidationObserver observer);

    /// <summary>Cancels a subscription.</summary>
    [Requires(Permission.CacheRead)]
    [Alias("unsubscribe")]
    Task UnsubscribeAsync(ICacheInvalidationObserver observer);

    /// <summary>
    /// Maintenance: deactivates this shard; on the way out it writes what is pending (write-behind rows,
    /// the last snapshot). A volatile shard's keys are gone afterwards.
    /// </summary>
    [Alias("deactivate")]
    Task DeactivateAsync();
}

/// <summary>
/// The definition of a named cache: its shard count and the ring version clients route by.
/// Grain key: the cache name.
/// </summary>
[Requires(Permission.CacheRead)]
[Alias("granary.caching.definition")]
public interface ICacheDefinitionGrain : IGrainWithStringKey
{
    /// <summary>The current definition (created with the configured default shard count on first use).</summary>
    [Alias("get")]
    Task<CacheDefinition> GetAsync();

    /// <summary>
    /// Changes the shard count: moves only the keys whose shard changed, then publishes a new ring
    /// version. Returns the new definition and how many keys moved.
    /// </summary>
    [Requires(Permission.CacheAdmin)]
    [Alias("reshard")]
    Task<ReshardResult> ReshardAsync(int shards);

    /// <summary>
    /// Creates the cache with <paramref name="shards"/> shards and <paramref name="settings"/> (persistence,
    /// eviction, memory bound). Idempotent for the same arguments; a cache that already exists with other
    /// settings is refused with <see cref="Errors.InvalidRequestException"/>.
    /// </summary>
    [Requires(Permission.CacheAdmin)]
    [Alias("create")]
    Task<CacheDefinition> CreateAsync(int shards, CacheSettings settings);

    /// <summary>
    /// The stored definition without creating it (null when the cache was never used). Interleaves with
    /// a running reshard (shards call it when they activate, possibly on behalf of that reshard); during
    /// a reshard <see cref="CacheDefinition.PendingVersion"/> is the version being built.
    /// </summary>
    [Alias("peek"), AlwaysInterleave]
    Task<CacheDefinition?> PeekAsync();
}

/// <summary>
/// A named cache's shard count, ring version and key placement. <see cref="Placement"/> is
/// <see cref="CacheKeyPlacement.WholeKey"/> (0) when absent, which is what definitions stored before hash
/// slots existed read as.
/// </summary>
[GenerateSerializer, Alias("granary.caching.definition-snapshot")]
public sealed record CacheDefinition(
    [property: Id(0)] string Name,
    [property: Id(1)] int Shards,
    [property: Id(2)] long Version,
    [property: Id(3)] int VirtualNodesPerShard,
    [property: Id(4)] CacheSettings? Settings = null,
    [property: Id(5)] long PendingVersion = 0,
    [property: Id(6)] CacheKeyPlacement Placement = CacheKeyPlacement.WholeKey)
{
    /// <summary>How shards of this cache persist (volatile when no settings were given).</summary>
    public CachePersistence Persistence => Settings?.Persistence ?? CachePersistence.Volatile;

    /// <summary>The shard grain key for shard <paramref name="shard"/> of <paramref name="cache"/>.</summary>
    public static string ShardKey(string cache, int shard) => Granary.Identity.IndexedKey.Format(cache, shard);

    /// <summary>The map that places keys on this definition's shards (same in every process).</summary>
    public CacheShardMap BuildMap() => CacheShardMap.Create(Shards, VirtualNodesPerShard, Version, Placement);
}

/// <summary>Outcome of a reshard.</summary>
[GenerateSerializer, Alias("granary.caching.reshard-result")]
public sealed record ReshardResult(
    [property: Id(0)] CacheDefinition Definition,
    [property: Id(1)] long KeysBefore,
    [property: Id(2)] long KeysMoved,
    [property: Id(3)] double IdealFraction);

/// <summary>One key and its value, as moved between shards.</summary>
[GenerateSerializer, Alias("granary.caching.entry-export")]
public sealed record CacheEntryExport(
    [property: Id(0)] string Key,
    [property: Id(1)] int Type,
    [property: Id(2)] string[] Items,
    [property: Id(3)] long ExpiresAt);
