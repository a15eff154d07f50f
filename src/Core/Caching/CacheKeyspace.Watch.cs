namespace Granary.Caching;

/// <summary>
/// Modification stamps for Redis's WATCH: <see cref="Watch"/> registers keys and answers a stamp per key;
/// <see cref="WatchedUnchanged"/>, called in the same turn as the transaction it guards, says whether none
/// of them changed since. A key changes when it is created, written, given or stripped of a TTL, deleted,
/// expired, evicted or flushed (the primitives that count <c>_changes</c> bump its stamp).
/// Memory is bounded: at most <see cref="MaxWatchedKeys"/> keys keep a stamp, the oldest forgotten first; a
/// forgotten key counts as changed (a transaction may fail that would have passed, never the reverse).
/// </summary>
public sealed partial class CacheKeyspace
{
    /// <summary>Most keys with a watch stamp at once; beyond it the oldest registrations are forgotten.</summary>
    public const int MaxWatchedKeys = 16_384;

    /// <summary>Tells this keyspace's stamps from those of an earlier one (a reactivated shard starts again).</summary>
    private readonly long _watchIncarnation = Random.Shared.NextInt64(1, long.MaxValue);
    private readonly Dictionary<string, long> _watchStamps = new(StringComparer.Ordinal);
    private readonly Queue<string> _watchOrder = new();
    private long _watchClock;

    /// <summary>
    /// Registers <paramref name="keys"/> (a key expired by now is reclaimed first, as Redis does not count an
    /// expired key's deletion as a change) and returns this keyspace's incarnation followed by one stamp per key,
    /// to hand back to <see cref="WatchedUnchanged"/>.
    /// </summary>
    public long[] Watch(IReadOnlyList<string> keys)
    {
        ArgumentNullException.ThrowIfNull(keys);
        _now = _time.GetUtcNow().ToUnixTimeMilliseconds();
        var stamps = new long[keys.Count + 1];
        stamps[0] = _watchIncarnation;
        for (var i = 0; i < keys.Count; i++)
        {
            ReclaimIfExpired(keys[i]);
            if (!_watchStamps.TryGetValue(keys[i], out var stamp))
            {
                while (_watchStamps.Count >= MaxWatchedKeys && _watchOrder.TryDequeue(out var oldest))
                {
                    _watchStamps.Remove(oldest);
                }

                stamp = ++_watchClock;
                _watchStamps.Add(keys[i], stamp);
                _watchOrder.Enqueue(keys[i]);
            }

            stamps[i + 1] = stamp;
        }

        return stamps;
    }

    /// <summary>
    /// True when none of <paramref name="keys"/> changed since <see cref="Watch"/> answered <paramref name="stamps"/>
    /// (incarnation first). A key that expired since counts as changed.
    /// </summary>
    public bool WatchedUnchanged(IReadOnlyList<string> keys, IReadOnlyList<long> stamps)
    {
        ArgumentNullException.ThrowIfNull(keys);
        ArgumentNullException.ThrowIfNull(stamps);
        if (stamps.Count != keys.Count + 1 || stamps[0] != _watchIncarnation)
        {
            return false;
        }

        _now = _time.GetUtcNow().ToUnixTimeMilliseconds();
        for (var i = 0; i < keys.Count; i++)
        {
            ReclaimIfExpired(keys[i]);
            if (!_watchStamps.TryGetValue(keys[i], out var stamp) || stamp != stamps[i + 1])
            {
                return false;
            }
        }

        return true;
    }

    /// <summary>Number of keys that keep a watch stamp (bounded by <see cref="MaxWatchedKeys"/>).</summary>
    public int WatchedKeys => _watchStamps.Count;

    /// <summary>Gives a watched key a new stamp: every watcher of it sees a change.</summary>
    private void KeyChanged(string key)
    {
        if (_watchStamps.Count > 0 && _watchStamps.ContainsKey(key))
        {
            _watchStamps[key] = ++_watchClock;
        }
    }

    private void ReclaimIfExpired(string key)
    {
        if (_entries.TryGetValue(key, out var entry) && IsExpired(entry))
        {
            RemoveEntry(entry);
            _expirations++;
        }
    }
}
