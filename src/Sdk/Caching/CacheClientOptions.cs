namespace Granary.Sdk.Caching;

/// <summary>How a <see cref="CacheClient"/> batches and refreshes.</summary>
public sealed record CacheClientOptions
{
    /// <summary>Grain calls in flight per shard; operations arriving meanwhile join the next batch. Default 2.</summary>
    public int MaxInFlightPerShard { get; init; } = 2;

    /// <summary>Most commands in one grain call. Default <see cref="Limits.MaxBatchSize"/>.</summary>
    public int MaxBatchSize { get; init; } = Limits.MaxBatchSize;

    /// <summary>How often the ring version is checked in the background. Default 5 s.</summary>
    public TimeSpan RingRefreshInterval { get; init; } = TimeSpan.FromSeconds(5);
}
