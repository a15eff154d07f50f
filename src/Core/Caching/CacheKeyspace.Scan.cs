using Granary.Hashing;

namespace Granary.Caching;

/// <summary>SCAN and KEYS.</summary>
/// <remarks>
/// SCAN walks keys in the order of a stable hash position (47 bits, never 0), so a cursor is
/// "continue from this position": every key present for the whole iteration is returned at least
/// once, however keys are added or removed in between, and cursor 0 starts and ends the walk.
/// The cache client places the shard index above bit 48 to scan a whole cache.
/// </remarks>
public sealed partial class CacheKeyspace
{
    /// <summary>Bits of a SCAN cursor used by the position inside one shard.</summary>
    public const int ScanPositionBits = 48;

    private long _structureVersion;
    private long _scanOrderVersion = -1;
    private (ulong Position, string Key)[] _scanOrder = [];

    /// <summary>The SCAN position of a key: 1 .. 2^47.</summary>
    public static ulong ScanPosition(string key) => (StableHash.Hash64(key) >> 17) + 1;

    private CacheReply Scan(IReadOnlyList<string> a)
    {
        if (!ulong.TryParse(a[1], System.Globalization.NumberStyles.None, System.Globalization.CultureInfo.InvariantCulture, out var cursor) || cursor >= 1UL << ScanPositionBits)
        {
            return CacheReply.Error("ERR invalid cursor");
        }

        string? pattern = null;
        string? type = null;
        long count = 10;
        for (var j = 2; j < a.Count; j++)
        {
            var left = a.Count - j - 1;
            if (Is(a[j], "COUNT") && left >= 1)
            {
                if (!RedisText.TryParseInt64(a[++j], out count))
                {
                    return NotIntegerReply;
                }

                if (count < 1)
                {
                    return SyntaxReply;
                }
            }
            else if (Is(a[j], "MATCH") && left >= 1)
            {
                pattern = a[++j];
            }
            else if (Is(a[j], "TYPE") && left >= 1)
            {
                type = a[++j];
            }
            else
            {
                return SyntaxReply;
            }
        }

        var order = ScanOrder();
        var index = LowerBound(order, cursor);
        var keys = new List<CacheReply>();
        var visited = 0L;
        while (index < order.Length && (visited < count || (index > 0 && order[index].Position == order[index - 1].Position)))
        {
            var (_, key) = order[index++];
            visited++;
            if (!_entries.TryGetValue(key, out var entry) || IsExpired(entry))
            {
                continue;
            }

            if ((pattern is null || GlobPattern.IsMatch(pattern, key)) && (type is null || Is(TypeName(entry.Type), type)))
            {
                keys.Add(CacheReply.Bulk(key));
            }
        }

        var next = index < order.Length ? order[index].Position : 0UL;
        return CacheReply.Array([CacheReply.Bulk(next.ToString(System.Globalization.CultureInfo.InvariantCulture)), CacheReply.Array([.. keys])]);
    }

    private CacheReply Keys(string pattern)
    {
        var keys = _entries.Values.Where(e => !IsExpired(e) && GlobPattern.IsMatch(pattern, e.Key)).Select(e => e.Key);
        return CacheReply.BulkArray(keys);
    }

    private static string TypeName(CacheValueType type) => type switch
    {
        CacheValueType.String => "string",
        CacheValueType.Hash => "hash",
        CacheValueType.List => "list",
        CacheValueType.Set => "set",
        _ => "zset",
    };

    private (ulong Position, string Key)[] ScanOrder()
    {
        if (_scanOrderVersion != _structureVersion)
        {
            _scanOrder = [.. _entries.Keys.Select(k => (ScanPosition(k), k)).OrderBy(p => p.Item1).ThenBy(p => p.k, StringComparer.Ordinal)];
            _scanOrderVersion = _structureVersion;
        }

        return _scanOrder;
    }

    private static int LowerBound((ulong Position, string Key)[] order, ulong position)
    {
        int lo = 0, hi = order.Length;
        while (lo < hi)
        {
            var mid = (lo + hi) >>> 1;
            if (order[mid].Position < position)
            {
                lo = mid + 1;
            }
            else
            {
                hi = mid;
            }
        }

        return lo;
    }
}
