namespace Granary.Caching;

/// <summary>
/// The commands whose keys are counted by a numkeys argument (LMPOP, ZMPOP, SINTERCARD): all their keys
/// live on one shard (declared same-shard, so keys of different slots are refused with CROSSSLOT).
/// </summary>
public sealed partial class CacheKeyspace
{
    private static readonly CacheReply NumKeysNotPositiveReply = CacheReply.Error("ERR numkeys should be greater than 0");
    private static readonly CacheReply CountNotPositiveReply = CacheReply.Error("ERR count should be greater than 0");

    /// <summary><c>LMPOP numkeys key [key ...] LEFT|RIGHT [COUNT count]</c>: pops from the first non-empty list.</summary>
    private CacheReply LMPop(IReadOnlyList<string> a) =>
        MultiPop(a, CacheValueType.List, "LEFT", "RIGHT", (entry, left, count) => PopItems(entry, front: left, count));

    /// <summary><c>ZMPOP numkeys key [key ...] MIN|MAX [COUNT count]</c>: pops from the first existing sorted set.</summary>
    private CacheReply ZMPop(IReadOnlyList<string> a) =>
        MultiPop(a, CacheValueType.ZSet, "MIN", "MAX", (entry, min, count) => ZPopItems(entry, max: !min, count, nested: true));

    /// <summary>
    /// LMPOP and ZMPOP: the first existing key of <paramref name="type"/> (a key of another type first is
    /// WRONGTYPE) answers [key, popped]; none: a nil array.
    /// </summary>
    private CacheReply MultiPop(IReadOnlyList<string> a, CacheValueType type, string first, string second, Func<CacheEntry, bool, long, CacheReply[]> pop)
    {
        if (ParseMultiPop(a, first, second, out var keys, out var isFirst, out var count) is { } error)
        {
            return error;
        }

        for (var i = 2; i < 2 + keys; i++)
        {
            var entry = Writable(a[i], type, out var wrong);
            if (wrong)
            {
                return WrongTypeReply;
            }

            if (entry is not null)
            {
                return CacheReply.Array([CacheReply.Bulk(a[i]), CacheReply.Array(pop(entry, isFirst, count))]);
            }
        }

        return CacheReply.NilArray;
    }

    /// <summary><c>SINTERCARD numkeys key [key ...] [LIMIT limit]</c>: the intersection's size, counting stops at the limit (0 = none).</summary>
    private CacheReply SInterCard(IReadOnlyList<string> a)
    {
        if (!RedisText.TryParseInt64(a[1], out var numKeys) || numKeys < 1)
        {
            return NumKeysNotPositiveReply;
        }

        if (numKeys > a.Count - 2)
        {
            return CacheReply.Error("ERR Number of keys can't be greater than number of args");
        }

        var keys = (int)numKeys;
        long limit = 0;
        for (var j = 2 + keys; j < a.Count; j++)
        {
            if (Is(a[j], "LIMIT") && j < a.Count - 1)
            {
                j++;
                if (!RedisText.TryParseInt64(a[j], out limit) || limit < 0)
                {
                    return CacheReply.Error("ERR LIMIT can't be negative");
                }
            }
            else
            {
                return SyntaxReply;
            }
        }

        // Every key's type is checked before a missing one makes the answer 0, as Redis does.
        var sets = new HashSet<string>?[keys];
        for (var i = 0; i < keys; i++)
        {
            var entry = Readable(a[2 + i], CacheValueType.Set, out var wrong);
            if (wrong)
            {
                return WrongTypeReply;
            }

            sets[i] = entry?.AsSet;
        }

        if (sets.Any(set => set is null))
        {
            return CacheReply.Int(0);
        }

        var smallest = sets.MinBy(set => set!.Count)!;
        long cardinality = 0;
        foreach (var member in smallest)
        {
            if (sets.All(set => set!.Contains(member)) && ++cardinality == limit)
            {
                break;
            }
        }

        return CacheReply.Int(cardinality);
    }

    /// <summary>
    /// Parses LMPOP's and ZMPOP's arguments after the name: numkeys, the keys, a direction
    /// (<paramref name="first"/> or <paramref name="second"/>) and an optional COUNT, with Redis's errors.
    /// </summary>
    private static CacheReply? ParseMultiPop(IReadOnlyList<string> a, string first, string second, out int keys, out bool isFirst, out long count)
    {
        keys = 0;
        isFirst = false;
        count = 1;
        if (!RedisText.TryParseInt64(a[1], out var numKeys) || numKeys < 1)
        {
            return NumKeysNotPositiveReply;
        }

        // The direction follows the keys: it must be there.
        if (numKeys >= a.Count - 2)
        {
            return SyntaxReply;
        }

        keys = (int)numKeys;
        var where = 2 + keys;
        isFirst = Is(a[where], first);
        if (!isFirst && !Is(a[where], second))
        {
            return SyntaxReply;
        }

        var hasCount = false;
        for (var j = where + 1; j < a.Count; j++)
        {
            if (!hasCount && Is(a[j], "COUNT") && j < a.Count - 1)
            {
                j++;
                if (!RedisText.TryParseInt64(a[j], out count) || count < 1)
                {
                    return CountNotPositiveReply;
                }

                hasCount = true;
            }
            else
            {
                return SyntaxReply;
            }
        }

        return null;
    }
}
