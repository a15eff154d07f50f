using System.Globalization;
using Granary.Hashing;

namespace Granary.Caching;

/// <summary>SCAN and KEYS.</summary>
/// <remarks>
/// SCAN walks keys in the order of a stable hash position (47 bits, never 0), so a cursor is
/// "continue from this position": every key present for the whole iteration is returned at least
/// once, however keys are added or removed in between, and cursor 0 starts and ends the walk.
/// The cache client places the shard index above bit 48 to scan a whole cache.
/// What one call costs is bounded: SCAN visits at most <see cref="CacheKeyspaceOptions.MaxScanCount"/>
/// keys (COUNT is a hint, as in Redis) through an index kept sorted by position (built by the first
/// SCAN, then updated as keys come and go), KEYS refuses a shard holding more than
/// <see cref="CacheKeyspaceOptions.MaxKeysPerKeysCommand"/> keys, and a MATCH pattern is bounded in
/// length and wildcards and matched in time linear in each key (<see cref="GlobPattern"/>).
/// </remarks>
public sealed partial class CacheKeyspace
{
    /// <summary>Bits of a SCAN cursor used by the position inside one shard.</summary>
    public const int ScanPositionBits = 48;

    private SortedSet<(ulong Position, string Key)>? _scanIndex;

    /// <summary>The SCAN position of a key: 1 .. 2^47.</summary>
    public static ulong ScanPosition(string key) => (StableHash.Hash64(key) >> 17) + 1;

    /// <summary>The pattern of the last KEYS or SCAN MATCH, for tests that count its <see cref="GlobPattern.Steps"/>.</summary>
    public GlobPattern? LastPattern { get; private set; }

    /// <summary>
    /// Work done by SCAN so far, for tests that bound it: one step per key put into the sorted index when it
    /// is built, per index update while it exists, and per index entry a call visits.
    /// </summary>
    public long ScanSteps { get; private set; }

    private CacheReply Scan(IReadOnlyList<string> a)
    {
        if (!ulong.TryParse(a[1], NumberStyles.None, CultureInfo.InvariantCulture, out var cursor) || cursor >= 1UL << ScanPositionBits)
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

        GlobPattern? glob = null;
        if (pattern is not null && !TryCompile(pattern, out glob, out var refused))
        {
            return refused;
        }

        // COUNT is a hint (Redis may return more or fewer): a larger one is served a bounded page at a time.
        count = Math.Min(count, Options.MaxScanCount);
        var keys = new List<CacheReply>();
        var visited = 0L;
        var previous = 0UL;
        var next = 0UL;
        foreach (var (position, key) in ScanIndex().GetViewBetween((cursor, ""), (ulong.MaxValue, "")))
        {
            // A cursor is a position: keys sharing one are returned in the same call.
            if (visited >= count && position != previous)
            {
                next = position;
                break;
            }

            visited++;
            ScanSteps++;
            previous = position;
            if (!_entries.TryGetValue(key, out var entry) || IsExpired(entry))
            {
                continue;
            }

            if ((glob is null || glob.IsMatch(key)) && (type is null || Is(TypeName(entry.Type), type)))
            {
                keys.Add(CacheReply.Bulk(key));
            }
        }

        return CacheReply.Array([CacheReply.Bulk(next.ToString(CultureInfo.InvariantCulture)), CacheReply.Array([.. keys])]);
    }

    private CacheReply Keys(string pattern)
    {
        if (_entries.Count > Options.MaxKeysPerKeysCommand)
        {
            return CacheReply.Error(RedisText.KeysOverLimit(_entries.Count, Options.MaxKeysPerKeysCommand));
        }

        if (!TryCompile(pattern, out var glob, out var refused))
        {
            return refused;
        }

        var keys = _entries.Values.Where(e => !IsExpired(e) && (glob is null || glob.IsMatch(e.Key))).Select(e => e.Key);
        return CacheReply.BulkArray(keys);
    }

    /// <summary>Checks the pattern's bounds and compiles it; <c>*</c> alone matches every key without matching (as in Redis).</summary>
    private bool TryCompile(string pattern, out GlobPattern? glob, out CacheReply refused)
    {
        glob = null;
        refused = CacheReply.Ok;
        if (pattern.Length > Options.MaxPatternLength)
        {
            refused = CacheReply.Error(RedisText.PatternTooLong(pattern.Length, Options.MaxPatternLength));
            return false;
        }

        if (pattern == "*")
        {
            return true;
        }

        glob = GlobPattern.Compile(pattern);
        if (glob.Wildcards > Options.MaxPatternWildcards)
        {
            refused = CacheReply.Error(RedisText.PatternTooManyWildcards(glob.Wildcards, Options.MaxPatternWildcards));
            glob = null;
            return false;
        }

        LastPattern = glob;
        return true;
    }

    private static string TypeName(CacheValueType type) => type switch
    {
        CacheValueType.String => "string",
        CacheValueType.Hash => "hash",
        CacheValueType.List => "list",
        CacheValueType.Set => "set",
        _ => "zset",
    };

    /// <summary>The keys sorted by position: built by the first SCAN of this keyspace, then kept up to date.</summary>
    private SortedSet<(ulong Position, string Key)> ScanIndex()
    {
        if (_scanIndex is null)
        {
            _scanIndex = new SortedSet<(ulong Position, string Key)>(_entries.Keys.Select(k => (ScanPosition(k), k)), ScanOrder.Instance);
            ScanSteps += _scanIndex.Count;
        }

        return _scanIndex;
    }

    private void IndexAdded(string key)
    {
        if (_scanIndex is not null)
        {
            _scanIndex.Add((ScanPosition(key), key));
            ScanSteps++;
        }
    }

    private void IndexRemoved(string key)
    {
        if (_scanIndex is not null)
        {
            _scanIndex.Remove((ScanPosition(key), key));
            ScanSteps++;
        }
    }

    /// <summary>Position, then key (ordinal): every position sorts after (position, "").</summary>
    private sealed class ScanOrder : IComparer<(ulong Position, string Key)>
    {
        public static readonly ScanOrder Instance = new();

        public int Compare((ulong Position, string Key) x, (ulong Position, string Key) y)
        {
            var byPosition = x.Position.CompareTo(y.Position);
            return byPosition != 0 ? byPosition : string.CompareOrdinal(x.Key, y.Key);
        }
    }
}
