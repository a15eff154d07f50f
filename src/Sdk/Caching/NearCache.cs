using Granary.Caching;

namespace Granary.Client.Caching;

/// <summary>
/// A client-side copy of recently read-through values, kept honest by the shards' invalidation
/// notices. Rule: a value is never served after an invalidation of its key was received, and a read
/// that was in flight when the invalidation arrived is not stored (its answer may predate the write).
/// Entries also expire after <see cref="CacheClientOptions.NearCacheTtl"/>, which bounds what a lost
/// notice (e.g. a shard reactivated before the client re-subscribed) can cost.
/// </summary>
internal sealed class NearCache(TimeProvider time, TimeSpan ttl) : ICacheInvalidationObserver
{
    private const int MaxTrackedInvalidations = 100_000;

    private readonly Lock _lock = new();
    private readonly Dictionary<string, Entry> _entries = new(StringComparer.Ordinal);
    private readonly Dictionary<string, long> _invalidatedAt = new(StringComparer.Ordinal);
    private readonly Dictionary<string, long> _newestInvalidatedVersion = new(StringComparer.Ordinal);
    private long _clock;
    private long _floor;
    private long _hits;
    private long _misses;
    private long _invalidations;
    private long _refusedFills;

    /// <summary>Hits, misses, invalidations received, and fills refused because an invalidation overtook the read.</summary>
    public (long Hits, long Misses, long Invalidations, long RefusedFills) Counters
    {
        get
        {
            lock (_lock)
            {
                return (_hits, _misses, _invalidations, _refusedFills);
            }
        }
    }

    /// <summary>The newest backing version named by an invalidation of <paramref name="key"/> (0 when none).</summary>
    public long NewestInvalidatedVersion(string key)
    {
        lock (_lock)
        {
            return _newestInvalidatedVersion.GetValueOrDefault(key);
        }
    }

    /// <summary>A cached value, or false; on a miss <paramref name="token"/> marks when the read started.</summary>
    public bool TryGet(string key, out BackedRead? value, out long token)
    {
        lock (_lock)
        {
            token = _clock;
            if (_entries.TryGetValue(key, out var entry) && entry.ExpiresAt > time.GetTimestamp())
            {
                _hits++;
                value = entry.Value;
                return true;
            }

            _misses++;
            value = null;
            return false;
        }
    }

    /// <summary>Stores what a read that started at <paramref name="token"/> returned, unless the key was invalidated since.</summary>
    public void Fill(string key, long token, BackedRead value)
    {
        lock (_lock)
        {
            if (token < _floor || (_invalidatedAt.TryGetValue(key, out var at) && at > token))
            {
                _refusedFills++;
                return;
            }

            _entries[key] = new Entry(value, time.GetTimestamp() + (long)(ttl.TotalSeconds * time.TimestampFrequency));
        }
    }

    /// <summary>Forgets everything (ring changed, or a shard's subscription may have lapsed).</summary>
    public void Clear()
    {
        lock (_lock)
        {
            _entries.Clear();
            _invalidatedAt.Clear();
            _floor = ++_clock;
        }
    }

    /// <inheritdoc/>
    public Task InvalidatedAsync(CacheInvalidation notice)
    {
        ArgumentNullException.ThrowIfNull(notice);
        lock (_lock)
        {
            _invalidations++;
            var now = ++_clock;
            if (notice.Keys.Length == 0)
            {
                // The whole shard was flushed.
                _entries.Clear();
                _invalidatedAt.Clear();
                _floor = now;
                return Task.CompletedTask;
            }

            if (_invalidatedAt.Count > MaxTrackedInvalidations)
            {
                _invalidatedAt.Clear();
                _newestInvalidatedVersion.Clear();
                _floor = now;
            }

            for (var i = 0; i < notice.Keys.Length; i++)
            {
                var key = notice.Keys[i];
                _entries.Remove(key);
                _invalidatedAt[key] = now;
                if (i < notice.Versions.Length && notice.Versions[i] > _newestInvalidatedVersion.GetValueOrDefault(key))
                {
                    _newestInvalidatedVersion[key] = notice.Versions[i];
                }
            }
        }

        return Task.CompletedTask;
    }

    private sealed record Entry(BackedRead Value, long ExpiresAt);
}
