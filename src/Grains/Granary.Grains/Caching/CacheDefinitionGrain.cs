using Granary.Errors;
using Microsoft.Extensions.Logging;
using Microsoft.Extensions.Options;

namespace Granary.Caching;

/// <summary>Implements <see cref="ICacheDefinitionGrain"/>: the shard count and ring version of one named cache.</summary>
[GrainType("granary.caching.cache-definition")]
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
            Guard.Name(this.GetPrimaryKeyString(), "cache");
            state.State.Shards = options.Value.DefaultShards;
            state.State.Version = 1;
            state.State.VirtualNodesPerShard = options.Value.VirtualNodesPerShard;
            await state.WriteStateAsync();
        }

        return Current();
    }

    /// <inheritdoc/>
    public async Task<ReshardResult> ReshardAsync(int shards)
    {
        Guard.InRange(shards, nameof(shards), 1, options.Value.MaxShards);
        var before = await GetAsync();
        if (shards == before.Shards)
        {
            return new ReshardResult(before, 0, 0, 0);
        }

        var target = before with { Shards = shards, Version = before.Version + 1 };
        var keysBefore = 0L;
        foreach (var shard in Enumerable.Range(0, before.Shards))
        {
            keysBefore += (await Shard(shard).GetStatisticsAsync()).Keys;
        }

        // Each old shard hands over only the keys the new ring places elsewhere.
        var moved = 0L;
        var ring = target.BuildRing();
        foreach (var shard in Enumerable.Range(0, before.Shards))
        {
            var exported = await Shard(shard).ExportMovedAsync(target);
            moved += exported.Length;
            foreach (var group in exported.GroupBy(e => ring.GetNode(e.Key), StringComparer.Ordinal))
            {
                await Shard(int.Parse(group.Key, System.Globalization.CultureInfo.InvariantCulture)).ImportAsync([.. group]);
            }
        }

        state.State.Shards = shards;
        state.State.Version = target.Version;
        await state.WriteStateAsync();
        LogResharded(logger, this.GetPrimaryKeyString(), before.Shards, shards, moved, keysBefore);
        var ideal = Math.Abs(shards - before.Shards) / (double)Math.Max(shards, before.Shards);
        return new ReshardResult(Current(), keysBefore, moved, ideal);
    }

    private ICacheShardGrain Shard(int index) => GrainFactory.GetGrain<ICacheShardGrain>(CacheDefinition.ShardKey(this.GetPrimaryKeyString(), index));

    private CacheDefinition Current() => new(this.GetPrimaryKeyString(), state.State.Shards, state.State.Version, state.State.VirtualNodesPerShard);

    [LoggerMessage(Level = LogLevel.Information, Message = "Cache {Cache} resharded from {From} to {To} shards: {Moved} of {Keys} keys moved")]
    private static partial void LogResharded(ILogger logger, string cache, int from, int to, long moved, long keys);
}
