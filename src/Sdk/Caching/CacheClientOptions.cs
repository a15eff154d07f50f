using Granary.Caching;

namespace Granary.Client.Caching;

/// <summary>How a <see cref="CacheClient"/> batches and refreshes.</summary>
public sealed record CacheClientOptions
{
    /// <summary>
    /// Grain calls in flight per shard; operations arriving meanwhile join the next batch. Default 1:
    /// under load, fewer and fuller calls cost less CPU per command on the client and the silo (and
    /// fewer TLS records) than a second call in flight saves in waiting; 2 lowers the latency of a
    /// lightly loaded client slightly.
    /// </summary>
    public int MaxInFlightPerShard { get; init; } = 1;

    /// <summary>Most commands in one grain call. Default <see cref="Limits.MaxBatchSize"/>.</summary>
    public int MaxBatchSize { get; init; } = Limits.MaxBatchSize;

    /// <summary>How often the ring version is checked in the background. Default 5 s.</summary>
    public TimeSpan RingRefreshInterval { get; init; } = TimeSpan.FromSeconds(5);

    /// <summary>
    /// Longest wait for one shard call; its commands then fail with <see cref="TimeoutException"/> and the
    /// call slot is freed. Without it, calls to a silo that died are answered only at Orleans' response
    /// timeout (30 s), holding the shard's slots meanwhile. A timed-out call may still run later. Default 10 s.
    /// </summary>
    public TimeSpan CallTimeout { get; init; } = TimeSpan.FromSeconds(10);

    /// <summary>
    /// Keep a near-cache of read-through values in this client, invalidated by the shards' notices
    /// (the client subscribes to every shard). Default false.
    /// </summary>
    public bool NearCache { get; init; }

    /// <summary>Longest a near-cache entry is served without a fresh read. Default 10 s.</summary>
    public TimeSpan NearCacheTtl { get; init; } = TimeSpan.FromSeconds(10);

    /// <summary>How often near-cache subscriptions are renewed (and lapsed ones detected). Default 15 s.</summary>
    public TimeSpan SubscriptionRenewal { get; init; } = TimeSpan.FromSeconds(15);

    /// <summary>Clock of the near-cache and of the call bounds. Default <see cref="TimeProvider.System"/>.</summary>
    public TimeProvider TimeProvider { get; init; } = TimeProvider.System;

    /// <summary>
    /// The shards of the silo this client runs in that take commands without a grain call (set by the
    /// silo's wire endpoints; null elsewhere): a group of commands for such a shard runs at once on the
    /// calling thread, any other through the shard's batcher.
    /// </summary>
    internal ILocalCacheShards? LocalShards { get; init; }
}
