using System.Globalization;

namespace Granary.Caching;

/// <summary>One key with its value flattened to strings, as moved between shards.</summary>
/// <param name="Key">The key.</param>
/// <param name="Type">Its type.</param>
/// <param name="Items">string: [value] or, with memcached flags, [value, flags]; hash: field, value, ...; list: items; set: members; zset: member, score, ...</param>
/// <param name="ExpiresAt">Unix milliseconds, or -1.</param>
public sealed record CacheEntryData(string Key, CacheValueType Type, string[] Items, long ExpiresAt);

/// <summary>Export and import of entries (resharding).</summary>
public sealed partial class CacheKeyspace
{
    /// <summary>Removes and returns the live keys for which <paramref name="moves"/> is true.</summary>
    public IReadOnlyList<CacheEntryData> ExtractWhere(Func<string, bool> moves)
    {
        ArgumentNullException.ThrowIfNull(moves);
        _now = _time.GetUtcNow().ToUnixTimeMilliseconds();
        var moved = new List<CacheEntryData>();
        foreach (var entry in _entries.Values.Where(e => moves(e.Key)).ToList())
        {
            RemoveEntry(entry);
            if (!IsExpired(entry))
            {
                moved.Add(new CacheEntryData(entry.Key, entry.Type, Flatten(entry), entry.ExpiresAt));
            }
        }

        return moved;
    }

    /// <summary>The live entry of <paramref name="key"/> (null when absent or expired), without counting a hit or touching its access time.</summary>
    public CacheEntryData? Snapshot(string key)
    {
        ArgumentNullException.ThrowIfNull(key);
        _now = _time.GetUtcNow().ToUnixTimeMilliseconds();
        return _entries.TryGetValue(key, out var entry) && !IsExpired(entry)
            ? new CacheEntryData(entry.Key, entry.Type, Flatten(entry), entry.ExpiresAt)
            : null;
    }

    /// <summary>
    /// True when <paramref name="key"/> holds a live value (no hit counted, access time untouched, nothing
    /// reclaimed). Safe to call from <see cref="KeyRemoved"/> while a command runs: it leaves that command's clock alone.
    /// </summary>
    public bool Contains(string key)
    {
        ArgumentNullException.ThrowIfNull(key);
        var now = _time.GetUtcNow().ToUnixTimeMilliseconds();
        return _entries.TryGetValue(key, out var entry) && !(entry.ExpiresAt >= 0 && entry.ExpiresAt < now);
    }

    /// <summary>
    /// Makes every later entry version larger than <paramref name="floor"/>: a reloaded shard passes a
    /// floor above any version an earlier activation handed out, so a CAS with a version read before
    /// the reload can never match a new entry by accident.
    /// </summary>
    public void SeedVersions(long floor) => _version = Math.Max(_version, floor);

    /// <summary>Stores entries (replacing existing keys), then applies the memory bound.</summary>
    public void Import(IEnumerable<CacheEntryData> entries)
    {
        ArgumentNullException.ThrowIfNull(entries);
        _now = _time.GetUtcNow().ToUnixTimeMilliseconds();
        foreach (var data in entries)
        {
            if (_entries.TryGetValue(data.Key, out var existing))
            {
                RemoveEntry(existing);
            }

            var items = data.Items;
            var args = data.Type switch
            {
                CacheValueType.String => ["SET", data.Key, items[0]],
                CacheValueType.Hash => ["HSET", data.Key, .. items],
                CacheValueType.List => ["RPUSH", data.Key, .. items],
                CacheValueType.Set => ["SADD", data.Key, .. items],
                _ => ZAddArgs(data.Key, items),
            };
            CacheCommandTable.Commands[args[0]].Handler(this, args);
            if (data.ExpiresAt >= 0 && _entries.TryGetValue(data.Key, out var stored))
            {
                SetExpiry(stored, data.ExpiresAt);
            }

            if (data.Type == CacheValueType.String && items.Length > 1 && _entries.TryGetValue(data.Key, out var item))
            {
                item.Flags = uint.Parse(items[1], CultureInfo.InvariantCulture);
            }
        }

        FreeMemoryIfNeeded();
    }

    private static string[] ZAddArgs(string key, string[] items)
    {
        var args = new List<string>(items.Length + 2) { "ZADD", key };
        for (var i = 0; i + 1 < items.Length; i += 2)
        {
            args.Add(items[i + 1]);
            args.Add(items[i]);
        }

        return [.. args];
    }

    private static string[] Flatten(CacheEntry entry) => entry.Type switch
    {
        CacheValueType.String => entry.Flags == 0 ? [entry.AsString] : [entry.AsString, entry.Flags.ToString(CultureInfo.InvariantCulture)],
        CacheValueType.Hash => [.. entry.AsHash.SelectMany(p => new[] { p.Key, p.Value })],
        CacheValueType.List => [.. Enumerable.Range(0, entry.AsList.Count).Select(i => entry.AsList[i])],
        CacheValueType.Set => [.. entry.AsSet],
        _ => [.. entry.AsZSet.Order.SelectMany(p => new[] { p.Member, p.Score.ToString("R", CultureInfo.InvariantCulture) })],
    };
}
