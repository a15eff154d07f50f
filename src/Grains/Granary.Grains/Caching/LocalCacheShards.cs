using System.Collections.Concurrent;

namespace Granary.Caching;

/// <summary>
/// This silo's registry of <see cref="CacheShardGrain"/> activations that take direct commands
/// (<see cref="ILocalCacheShards"/>): a volatile shard registers itself when it has activated and
/// leaves when it starts to deactivate. Which commands a shard takes directly, and how it keeps them
/// apart from its grain calls, is the shard's own business (<see cref="CacheShardGrain.TryExecuteDirect"/>).
/// One instance per silo (a singleton of the silo's services); off with
/// <see cref="CacheShardOptions.DirectLocalCommands"/> = false.
/// </summary>
public sealed class LocalCacheShards : ILocalCacheShards
{
    private readonly ConcurrentDictionary<(string Cache, int Shard), CacheShardGrain> _shards = new();

    /// <inheritdoc/>
    public bool TryExecute(string cache, int shard, ReadOnlySpan<string[]> commands, Span<CacheReply> replies, long ringVersion) =>
        _shards.TryGetValue((cache, shard), out var local) && local.TryExecuteDirect(commands, replies, ringVersion);

    /// <summary>Registers an activation (replacing one that left without saying so).</summary>
    internal void Add(string cache, int shard, CacheShardGrain activation) => _shards[(cache, shard)] = activation;

    /// <summary>Removes <paramref name="activation"/>, if it is the one registered.</summary>
    internal void Remove(string cache, int shard, CacheShardGrain activation) =>
        _shards.TryRemove(new KeyValuePair<(string, int), CacheShardGrain>((cache, shard), activation));
}
