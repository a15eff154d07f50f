namespace Granary.Caching;

/// <summary>The list commands.</summary>
public sealed partial class CacheKeyspace
{
    private const long ListItemOverhead = 24;

    /// <summary>The lists module: each command with its arity, flags, key positions and handler.</summary>
    private static CacheCommandModule ListCommands() => new("lists",
    [
        new("LPUSH", -3, W, 1, 1, 1, static (k, a) => k.Push(a, front: true)),
        new("RPUSH", -3, W, 1, 1, 1, static (k, a) => k.Push(a, front: false)),
        new("LPOP", -2, D, 1, 1, 1, static (k, a) => k.Pop(a, front: true)),
        new("RPOP", -2, D, 1, 1, 1, static (k, a) => k.Pop(a, front: false)),
        new("LRANGE", 4, R, 1, 1, 1, static (k, a) => k.LRange(a[1], a[2], a[3])),
        new("LLEN", 2, R, 1, 1, 1, static (k, a) => k.LLen(a[1])),
        new("LINDEX", 3, R, 1, 1, 1, static (k, a) => k.LIndex(a[1], a[2])),
        new("LREM", 4, D, 1, 1, 1, static (k, a) => k.LRem(a[1], a[2], a[3])),
        new("LSET", 4, W, 1, 1, 1, static (k, a) => k.LSet(a[1], a[2], a[3])),
        new("LTRIM", 4, D, 1, 1, 1, static (k, a) => k.LTrim(a[1], a[2], a[3])),
        new("LINSERT", 5, W, 1, 1, 1, static (k, a) => k.LInsert(a)),
        new("LPOS", -3, R, 1, 1, 1, static (k, a) => k.LPos(a)),
        new("LMPOP", -4, D | S, 2, -1, 1, static (k, a) => k.LMPop(a), numKeysIndex: 1),
    ]);

    private CacheReply Push(IReadOnlyList<string> a, bool front)
    {
        var entry = Writable(a[1], CacheValueType.List, out var wrong);
        if (wrong)
        {
            return WrongTypeReply;
        }

        entry ??= AddEntry(a[1], CacheValueType.List, new CacheDeque());
        var list = entry.AsList;
        long delta = 0;
        for (var i = 2; i < a.Count; i++)
        {
            if (front)
            {
                list.PushFront(a[i]);
            }
            else
            {
                list.PushBack(a[i]);
            }

            delta += ListItemOverhead + (2L * a[i].Length);
        }

        Written(entry, delta);
        return CacheReply.Int(list.Count);
    }

    private CacheReply Pop(IReadOnlyList<string> a, bool front)
    {
        if (a.Count > 3)
        {
            return CacheReply.Error(RedisText.Arity(front ? "lpop" : "rpop"));
        }

        var hasCount = a.Count == 3;
        long count = 1;
        if (hasCount && (!RedisText.TryParseInt64(a[2], out count) || count < 0))
        {
            return CacheReply.Error(RedisText.MustBePositive);
        }

        var entry = Writable(a[1], CacheValueType.List, out var wrong);
        if (wrong)
        {
            return WrongTypeReply;
        }

        if (entry is null)
        {
            return hasCount ? CacheReply.NilArray : CacheReply.Nil;
        }

        if (hasCount && count == 0)
        {
            return CacheReply.EmptyArray;
        }

        var popped = PopItems(entry, front, count);
        return hasCount ? CacheReply.Array(popped) : popped[0];
    }

    /// <summary>Pops up to <paramref name="count"/> items from one end of a list entry (LPOP, RPOP, LMPOP).</summary>
    private CacheReply[] PopItems(CacheEntry entry, bool front, long count)
    {
        var list = entry.AsList;
        var take = (int)Math.Min(count, list.Count);
        var popped = new CacheReply[take];
        long delta = 0;
        for (var i = 0; i < take; i++)
        {
            var item = front ? list.PopFront() : list.PopBack();
            delta -= ListItemOverhead + (2L * item.Length);
            popped[i] = CacheReply.Bulk(item);
        }

        Written(entry, delta);
        RemoveIfEmpty(entry, list.Count);
        return popped;
    }

    private CacheReply LRange(string key, string startText, string stopText)
    {
        if (!RedisText.TryParseInt64(startText, out var start) || !RedisText.TryParseInt64(stopText, out var stop))
        {
            return NotIntegerReply;
        }

        var entry = Readable(key, CacheValueType.List, out var wrong);
        if (wrong)
        {
            return WrongTypeReply;
        }

        if (entry is null)
        {
            return CacheReply.EmptyArray;
        }

        var list = entry.AsList;
        if (!NormalizeRange(list.Count, ref start, ref stop))
        {
            return CacheReply.EmptyArray;
        }

        var items = new CacheReply[stop - start + 1];
        for (var i = start; i <= stop; i++)
        {
            items[i - start] = CacheReply.Bulk(list[(int)i]);
        }

        return CacheReply.Array(items);
    }

    private CacheReply LLen(string key)
    {
        var entry = Readable(key, CacheValueType.List, out var wrong);
        return wrong ? WrongTypeReply : CacheReply.Int(entry?.AsList.Count ?? 0);
    }

    private CacheReply LIndex(string key, string indexText)
    {
        var entry = Readable(key, CacheValueType.List, out var wrong);
        if (wrong)
        {
            return WrongTypeReply;
        }

        if (entry is null)
        {
            return CacheReply.Nil;
        }

        if (!RedisText.TryParseInt64(indexText, out var index))
        {
            return NotIntegerReply;
        }

        var list = entry.AsList;
        if (index < 0)
        {
            index += list.Count;
        }

        return index >= 0 && index < list.Count ? CacheReply.Bulk(list[(int)index]) : CacheReply.Nil;
    }

    private CacheReply LRem(string key, string countText, string element)
    {
        if (!RedisText.TryParseInt64(countText, out var count))
        {
            return NotIntegerReply;
        }

        var entry = Writable(key, CacheValueType.List, out var wrong);
        if (wrong)
        {
            return WrongTypeReply;
        }

        if (entry is null)
        {
            return CacheReply.Zero;
        }

        var list = entry.AsList;
        var n = list.Count;
        var remove = new bool[n];
        long removed = 0;
        // Redis negates a negative count in C, where -LLONG_MIN stays negative and then removes every match.
        var limit = count is 0 or long.MinValue ? long.MaxValue : Math.Abs(count);
        for (var k = 0; k < n && removed < limit; k++)
        {
            var i = count < 0 ? n - 1 - k : k;
            if (string.Equals(list[i], element, StringComparison.Ordinal))
            {
                remove[i] = true;
                removed++;
            }
        }

        if (removed > 0)
        {
            list.Retain((_, i) => !remove[i]);
            Written(entry, -removed * (ListItemOverhead + (2L * element.Length)));
            RemoveIfEmpty(entry, list.Count);
        }

        return CacheReply.Int(removed);
    }

    private CacheReply LSet(string key, string indexText, string element)
    {
        var entry = LookupWrite(key);
        if (entry is null)
        {
            return CacheReply.Error(RedisText.NoSuchKey);
        }

        if (entry.Type != CacheValueType.List)
        {
            return WrongTypeReply;
        }

        if (!RedisText.TryParseInt64(indexText, out var index))
        {
            return NotIntegerReply;
        }

        var list = entry.AsList;
        if (index < 0)
        {
            index += list.Count;
        }

        if (index < 0 || index >= list.Count)
        {
            return CacheReply.Error("ERR index out of range");
        }

        var old = list[(int)index];
        list[(int)index] = element;
        Written(entry, 2L * (element.Length - old.Length));
        return CacheReply.Ok;
    }

    private CacheReply LTrim(string key, string startText, string stopText)
    {
        if (!RedisText.TryParseInt64(startText, out var start) || !RedisText.TryParseInt64(stopText, out var stop))
        {
            return NotIntegerReply;
        }

        var entry = Writable(key, CacheValueType.List, out var wrong);
        if (wrong)
        {
            return WrongTypeReply;
        }

        if (entry is null)
        {
            return CacheReply.Ok;
        }

        var list = entry.AsList;
        var keep = NormalizeRange(list.Count, ref start, ref stop);
        if (keep && start == 0 && stop == list.Count - 1)
        {
            return CacheReply.Ok;
        }

        long delta = 0;
        for (var i = 0; i < list.Count; i++)
        {
            if (!keep || i < start || i > stop)
            {
                delta -= ListItemOverhead + (2L * list[i].Length);
            }
        }

        list.Retain((_, i) => keep && i >= start && i <= stop);
        Written(entry, delta);
        RemoveIfEmpty(entry, list.Count);
        return CacheReply.Ok;
    }

    /// <summary>LINSERT key BEFORE|AFTER pivot element: the new length, -1 without the pivot, 0 without the key.</summary>
    private CacheReply LInsert(IReadOnlyList<string> a)
    {
        var after = Is(a[2], "AFTER");
        if (!after && !Is(a[2], "BEFORE"))
        {
            return SyntaxReply;
        }

        var entry = Writable(a[1], CacheValueType.List, out var wrong);
        if (wrong)
        {
            return WrongTypeReply;
        }

        if (entry is null)
        {
            return CacheReply.Zero;
        }

        var list = entry.AsList;
        for (var i = 0; i < list.Count; i++)
        {
            if (string.Equals(list[i], a[3], StringComparison.Ordinal))
            {
                list.Insert(after ? i + 1 : i, a[4]);
                Written(entry, ListItemOverhead + (2L * a[4].Length));
                return CacheReply.Int(list.Count);
            }
        }

        return CacheReply.Int(-1);
    }

    /// <summary>LPOS key element [RANK rank] [COUNT n] [MAXLEN len]: positions of matches, at most the list's length.</summary>
    private CacheReply LPos(IReadOnlyList<string> a)
    {
        long rank = 1, count = -1, maxLength = 0;
        for (var j = 3; j < a.Count; j++)
        {
            var more = j + 1 < a.Count;
            if (Is(a[j], "RANK") && more)
            {
                if (!RedisText.TryParseInt64(a[++j], out rank))
                {
                    return NotIntegerReply;
                }

                if (rank == 0)
                {
                    return CacheReply.Error("ERR RANK can't be zero: use 1 to start from the first match, 2 from the second ... or use negative to start from the end of the list");
                }
            }
            else if (Is(a[j], "COUNT") && more)
            {
                if (!RedisText.TryParseInt64(a[++j], out count) || count < 0)
                {
                    return CacheReply.Error("ERR COUNT can't be negative");
                }
            }
            else if (Is(a[j], "MAXLEN") && more)
            {
                if (!RedisText.TryParseInt64(a[++j], out maxLength) || maxLength < 0)
                {
                    return CacheReply.Error("ERR MAXLEN can't be negative");
                }
            }
            else
            {
                return SyntaxReply;
            }
        }

        var entry = Readable(a[1], CacheValueType.List, out var wrong);
        if (wrong)
        {
            return WrongTypeReply;
        }

        if (entry is null)
        {
            return count != -1 ? CacheReply.EmptyArray : CacheReply.Nil;
        }

        var list = entry.AsList;
        var fromTail = rank < 0;
        // Matches to skip before the first reported one. Redis negates LLONG_MIN in C, where it stays negative
        // and the first match from the tail is reported, as for -1.
        var skip = rank == long.MinValue ? 0 : Math.Abs(rank) - 1;
        var wanted = count == -1 ? 1 : count == 0 ? long.MaxValue : count;
        var limit = maxLength == 0 ? list.Count : Math.Min(maxLength, list.Count);
        var found = new List<CacheReply>();
        for (var k = 0; k < limit && found.Count < wanted; k++)
        {
            var i = fromTail ? list.Count - 1 - k : k;
            if (!string.Equals(list[i], a[2], StringComparison.Ordinal))
            {
                continue;
            }

            if (skip > 0)
            {
                skip--;
                continue;
            }

            found.Add(CacheReply.Int(i));
        }

        if (count != -1)
        {
            return CacheReply.Array([.. found]);
        }

        return found.Count > 0 ? found[0] : CacheReply.Nil;
    }
}
