using Granary.Caching;
using Granary.Errors;
using Orleans.Concurrency;

namespace Granary.Client.Caching;

/// <summary>WATCH for a wire endpoint: keys of one shard checked for changes atomically with an EXEC.</summary>
public sealed partial class CacheClient
{
    /// <summary>
    /// Registers <paramref name="keys"/> on their shard and returns <paramref name="watch"/> extended with them
    /// (a new watch when null). The keys, and those already watched, must live on one shard:
    /// <see cref="InvalidRequestException"/> otherwise. A watch whose shard was reactivated or whose ring changed
    /// in between is marked broken: its EXEC answers null, as for a changed key.
    /// </summary>
    internal async Task<CacheWatch> WatchAsync(CacheWatch? watch, string[] keys, CancellationToken cancellationToken = default)
    {
        ArgumentNullException.ThrowIfNull(keys);
        MaybeRefreshInBackground();
        for (var attempt = 0; ; attempt++)
        {
            var routing = Volatile.Read(ref _routing);
            var shard = watch?.Shard ?? routing.ShardOf(keys[0]);
            if (keys.Any(k => routing.ShardOf(k) != shard))
            {
                throw new InvalidRequestException(nameof(keys), "must name keys of one shard");
            }

            var stamps = await _bound.On(routing.Shards[shard].WatchAsync(keys, routing.Definition.Version), cancellationToken);
            if (stamps.Length == 0)
            {
                await AfterMovedAsync(attempt, cancellationToken);
                continue;
            }

            watch ??= new CacheWatch(shard, routing.Definition.Version, stamps[0]);
            watch.Add(keys, stamps, routing.Definition.Version);
            return watch;
        }
    }

    /// <summary>
    /// Runs <paramref name="commands"/> as <see cref="ExecuteAtomicAsync"/> does, on the watch's shard, if none of
    /// the watched keys changed since they were watched (checked in the same grain turn); null otherwise, and
    /// nothing ran. Commands whose keys live on another shard: <see cref="InvalidRequestException"/>.
    /// </summary>
    internal async Task<IReadOnlyList<CacheReply>?> ExecuteWatchedAsync(CacheWatch watch, IReadOnlyList<string[]> commands, CancellationToken cancellationToken = default)
    {
        ArgumentNullException.ThrowIfNull(watch);
        ArgumentNullException.ThrowIfNull(commands);
        var routing = Volatile.Read(ref _routing);
        if (watch.Broken || routing.Definition.Version != watch.RingVersion)
        {
            return null;
        }

        if (commands.Any(c => (ShardOfKeys(c, out var spans) is { } shard && shard != watch.Shard) || spans))
        {
            throw new InvalidRequestException(nameof(commands), "must name keys of the watched shard");
        }

        var replies = await _bound.On(
            routing.Shards[watch.Shard].ExecuteWatchedAsync(commands.ToArray().AsImmutable(), [.. watch.Keys], [.. watch.Stamps], watch.RingVersion),
            cancellationToken);
        return replies is { } done && !done.Value.Any(r => r.IsMoved) ? done.Value : null;
    }
}

/// <summary>Keys watched on one shard of a cache, with the stamps their shard answered (the connection's WATCH state).</summary>
internal sealed class CacheWatch(int shard, long ringVersion, long incarnation)
{
    private readonly List<string> _keys = [];
    private readonly List<long> _stamps = [incarnation];

    /// <summary>The shard the keys live on.</summary>
    public int Shard { get; } = shard;

    /// <summary>The ring version they were watched on.</summary>
    public long RingVersion { get; } = ringVersion;

    /// <summary>True when the watch can no longer be checked (shard reactivated, ring changed): EXEC fails.</summary>
    public bool Broken { get; private set; }

    /// <summary>The watched keys.</summary>
    public IReadOnlyList<string> Keys => _keys;

    /// <summary>The shard's incarnation, then one stamp per key.</summary>
    public IReadOnlyList<long> Stamps => _stamps;

    /// <summary>Adds keys and the stamps a WATCH answered (incarnation first).</summary>
    public void Add(string[] keys, long[] stamps, long ringVersion)
    {
        Broken |= stamps[0] != _stamps[0] || ringVersion != RingVersion;
        _keys.AddRange(keys);
        _stamps.AddRange(stamps.Skip(1));
    }

    /// <summary>Makes the watch fail its EXEC (a WATCH whose outcome is unknown).</summary>
    public void Break() => Broken = true;
}
