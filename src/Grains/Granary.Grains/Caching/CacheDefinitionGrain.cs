using Granary.Errors;
using Microsoft.Extensions.Logging;
using Microsoft.Extensions.Options;

namespace Granary.Caching;

/// <summary>Implements <see cref="ICacheDefinitionGrain"/>: the shard count, ring version and settings of one named cache.</summary>
[GrainType("granary.caching.cache-definition")]
[KeyIsName("cache")]
public sealed partial class CacheDefinitionGrain(
    [PersistentState("cache-definition", GranaryStorage.Default)] IPersistentState<CacheDefinitionState> state,
    IOptions<CacheShardOptions> options,
    ILogger<CacheDefinitionGrain> logger) : Grain, ICacheDefinitionGrain
{
    /// <inheritdoc/>
    public async Task<CacheDefinition> GetAsync()
    {
        if (state.State.Shards == 0)
        {
            await DefineAsync(options.Value.DefaultShards, CacheSettings.Default);
        }

        return Current();
    }

    /// <inheritdoc/>
    public async Task<CacheDefinition> CreateAsync(int shards, CacheSettings settings)
    {
        ArgumentNullException.ThrowIfNull(settings);
        Guard.InRange(shards, nameof(shards), 1, options.Value.MaxShards);
        if (!Enum.IsDefined(settings.Persistence))
        {
            throw new InvalidRequestException(nameof(settings.Persistence), "must be Volatile, WriteThrough or Snapshot");
        }

        if (settings.EvictionPolicy is { } policy && !Enum.IsDefined(policy))
        {
            throw new InvalidRequestException(nameof(settings.EvictionPolicy), "must be NoEviction, Lru, Lfu or TtlFirst");
        }

        if (settings.MaxMemoryBytesPerShard is { } bytes)
        {
            // Never unbounded: 1 up to the silo's configured ceiling.
            Guard.InRange(bytes, nameof(settings.MaxMemoryBytesPerShard), 1, options.Value.MemoryCeilingBytesPerShard);
        }

        if (settings.SnapshotIntervalMilliseconds is { } interval)
        {
            Guard.InRange(interval, nameof(settings.SnapshotIntervalMilliseconds), 10, 3_600_000);
        }

        if (settings.BackingTable is { } table)
        {
            BackingTableName.Require(table, nameof(settings.BackingTable));
        }

        if (settings.WriteBehindDelayMilliseconds is { } delay)
        {
            Guard.InRange(delay, nameof(settings.WriteBehindDelayMilliseconds), 1, 3_600_000);
        }

        if (state.State.Shards == 0)
        {
            await DefineAsync(shards, settings);
            return Current();
        }

        var existing = state.State.Settings ?? CacheSettings.Default;
        if (existing != settings || state.State.Shards != shards)
        {
            throw new InvalidRequestException("cache", $"'{this.GetPrimaryKeyString()}' already exists with {state.State.Shards} shards ({existing.Describe()})");
        }

        return Current();
    }

    /// <inheritdoc/>
    public Task<CacheDefinition?> PeekAsync() =>
        Task.FromResult(state.State.Shards == 0 ? null : Current() with { PendingVersion = state.State.PendingVersion });

    /// <inheritdoc/>
    public async Task<ReshardResult> ReshardAsync(int shards)
    {
        Guard.InRange(shards, nameof(shards), 1, options.Value.MaxShards);
        var before = await GetAsync();
        if (shards == before.Shards && before.Placement == CacheKeyPlacement.HashSlots)
        {
            return new ReshardResult(before, 0, 0, 0);
        }

        // Every reshard builds the current placement, so resharding a whole-key cache (even to the same
        // shard count) moves its keys to hash-slot placement with the same machinery.
        var target = before with { Shards = shards, Version = before.Version + 1, Placement = CacheKeyPlacement.HashSlots };

        // Persisted first: a shard that (re)activates while keys are moving refuses the old ring at once.
        state.State.PendingVersion = target.Version;
        await state.WriteStateAsync();
        var keysBefore = 0L;
        foreach (var shard in Enumerable.Range(0, before.Shards))
        {
            keysBefore += (await Shard(shard).GetStatisticsAsync()).Keys;
        }

        // Each old shard hands over only the keys the new ring places elsewhere.
        var moved = 0L;
        var map = target.BuildMap();
        foreach (var shard in Enumerable.Range(0, before.Shards))
        {
            var exported = await Shard(shard).ExportMovedAsync(target);
            moved += exported.Length;
            foreach (var group in exported.GroupBy(e => map.ShardOf(e.Key)))
            {
                await Shard(group.Key).ImportAsync([.. group]);
            }
        }

        state.State.Shards = shards;
        state.State.Version = target.Version;
        state.State.Placement = target.Placement;
        state.State.PendingVersion = 0;
        await state.WriteStateAsync();
        LogResharded(logger, this.GetPrimaryKeyString(), before.Shards, shards, moved, keysBefore);
        var ideal = before.Placement == target.Placement
            ? Math.Abs(shards - before.Shards) / (double)Math.Max(shards, before.Shards)
            : 1 - (1.0 / shards);
        return new ReshardResult(Current(), keysBefore, moved, ideal);
    }

    private async Task DefineAsync(int shards, CacheSettings settings)
    {
        Guard.Name(this.GetPrimaryKeyString(), "cache");
        state.State.Shards = shards;
        state.State.Version = 1;
        state.State.VirtualNodesPerShard = options.Value.VirtualNodesPerShard;
        state.State.Placement = CacheKeyPlacement.HashSlots;
        state.State.Settings = settings == CacheSettings.Default ? null : settings;
        await state.WriteStateAsync();
        LogDefined(logger, this.GetPrimaryKeyString(), shards, settings.Describe());
    }

    private ICacheShardGrain Shard(int index) => GrainFactory.GetGrain<ICacheShardGrain>(CacheDefinition.ShardKey(this.GetPrimaryKeyString(), index));

    private CacheDefinition Current() => new(this.GetPrimaryKeyString(), state.State.Shards, state.State.Version, state.State.VirtualNodesPerShard, state.State.Settings, Placement: state.State.Placement);

    [LoggerMessage(Level = LogLevel.Information, Message = "Cache {Cache} resharded from {From} to {To} shards: {Moved} of {Keys} keys moved")]
    private static partial void LogResharded(ILogger logger, string cache, int from, int to, long moved, long keys);

    [LoggerMessage(Level = LogLevel.Information, Message = "Cache {Cache} defined with {Shards} shards ({Settings})")]
    private static partial void LogDefined(ILogger logger, string cache, int shards, string settings);
}
