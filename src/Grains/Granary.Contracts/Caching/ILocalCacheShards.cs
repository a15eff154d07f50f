namespace Granary.Caching;

/// <summary>
/// The cache shards active in this silo that take commands without a grain call. A silo's own wire
/// endpoints (RESP, Memcached) run a connection's commands on a shard activation of the same silo
/// through this, on the thread that read them: no message, no scheduling hop, no task per command.
/// Commands for a shard that is not here, or that does not take direct commands, go through the
/// shard's grain calls as from any client.
/// </summary>
public interface ILocalCacheShards
{
    /// <summary>
    /// Runs <paramref name="commands"/> in order on shard <paramref name="shard"/> of cache
    /// <paramref name="cache"/> if that shard is active in this silo and takes direct commands, putting
    /// in <paramref name="replies"/> (one per command) the replies <see cref="ICacheShardGrain.ExecuteAsync"/>
    /// gives (MOVED for an older <paramref name="ringVersion"/>). False when it cannot (nothing ran): the
    /// caller then makes the grain call.
    /// </summary>
    bool TryExecute(string cache, int shard, ReadOnlySpan<string[]> commands, Span<CacheReply> replies, long ringVersion);
}
