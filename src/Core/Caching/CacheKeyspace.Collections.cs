namespace Granary.Caching;

/// <summary>Hash, list, set and sorted-set commands.</summary>
public sealed partial class CacheKeyspace
{
    private const long HashFieldOverhead = 64;
    private const long ListItemOverhead = 24;
    private const long SetMemberOverhead = 48;
    private const long ZSetMemberOverhead = 96;

    /// <summary>Looks a key up for writing; null with <paramref name="wrongType"/> false means absent.</summary>
    private CacheEntry? Writable(string key, CacheValueType type, out bool wrongType)
    {
        var entry = LookupWrite(key);
        wrongType = entry is not null && entry.Type != type;
        return wrongType ? null : entry;
    }

    private CacheEntry? Readable(string key, CacheValueType type, out bool wrongType)
    {
        var entry = LookupRead(key);
        wrongType = entry is not null && entry.Type != type;
        return wrongType ? null : entry;
    }

    private void RemoveIfEmpty(CacheEntry entry, int count)
    {
        if (count == 0)
        {
            RemoveEntry(entry);
        }
    }

    // ---- Hashes ----

    private CacheReply HSet(IReadOnlyList<string> a)
    {
        if (a.Count % 2 == 1)
        {
            return CacheReply.Error(RedisText.Arity("hset"));
        }

        var entry = Writable(a[1], CacheValueType.Hash, out var wrong);
        if (wrong)
        {
            return WrongTypeReply;
        }

        entry ??= AddEntry(a[1], CacheValueType.Hash, new Dictionary<string, string>(StringComparer.Ordinal));
        var hash = entry.AsHash;
        var created = 0;
        long delta = 0;
        for (var i = 2; i < a.Count; i += 2)
        {
            if (hash.TryGetValue(a[i], out var old))
            {
                delta += 2L * (a[i + 1].Length - old.Length);
            }
            else
            {
                created++;
                delta += HashFieldOverhead + (2L * (a[i].Length + a[i + 1].Length));
            }

            hash[a[i]] = a[i + 1];
        }

        Written(entry, delta);
        return CacheReply.Int(created);
    }

    private CacheReply HGet(string key, string field)
    {
        var entry = Readable(key, CacheValueType.Hash, out var wrong);
        if (wrong)
        {
            return WrongTypeReply;
        }

        return entry is not null && entry.AsHash.TryGetValue(field, out var value) ? CacheReply.Bulk(value) : CacheReply.Nil;
    }

    private CacheReply HDel(IReadOnlyList<string> a)
    {
        var entry = Writable(a[1], CacheValueType.Hash, out var wrong);
        if (wrong)
        {
            return WrongTypeReply;
        }

        if (entry is null)
        {
            return CacheReply.Zero;
        }

        var hash = entry.AsHash;
        var removed = 0;
        long delta = 0;
        for (var i = 2; i < a.Count; i++)
        {
            if (hash.Remove(a[i], out var old))
            {
                removed++;
                delta -= HashFieldOverhead + (2L * (a[i].Length + old.Length));
            }
        }

        if (removed > 0)
        {
            Written(entry, delta);
            RemoveIfEmpty(entry, hash.Count);
        }

        return CacheReply.Int(removed);
    }

    private CacheReply HGetAll(string key)
    {
        var entry = Readable(key, CacheValueType.Hash, out var wrong);
        if (wrong)
        {
            return WrongTypeReply;
        }

        if (entry is null)
        {
            return CacheReply.EmptyArray;
        }

        var items = new CacheReply[entry.AsHash.Count * 2];
        var i = 0;
        foreach (var (field, value) in entry.AsHash)
        {
            items[i++] = CacheReply.Bulk(field);
            items[i++] = CacheReply.Bulk(value);
        }

        return CacheReply.Array(items);
    }

    private CacheReply HIncrBy(string key, string field, string amount)
    {
        if (!RedisText.TryParseInt64(amount, out var by))
        {
            return NotIntegerReply;
        }

        var entry = Writable(key, CacheValueType.Hash, out var wrong);
        if (wrong)
        {
            return WrongTypeReply;
        }

        long value = 0;
        string? old = null;
        if (entry is not null && entry.AsHash.TryGetValue(field, out old) && !RedisText.TryParseInt64(old, out value))
        {
            return CacheReply.Error(RedisText.HashNotInteger);
        }

        if ((by < 0 && value < 0 && by < long.MinValue - value) || (by > 0 && value > 0 && by > long.MaxValue - value))
        {
            return CacheReply.Error(RedisText.Overflow);
        }

        entry ??= AddEntry(key, CacheValueType.Hash, new Dictionary<string, string>(StringComparer.Ordinal));
        var result = value + by;
        var text = RedisText.FormatInt(result);
        entry.AsHash[field] = text;
        Written(entry, old is null ? HashFieldOverhead + (2L * (field.Length + text.Length)) : 2L * (text.Length - old.Length));
        return CacheReply.Int(result);
    }

    private CacheReply HLen(string key)
    {
        var entry = Readable(key, CacheValueType.Hash, out var wrong);
        return wrong ? WrongTypeReply : CacheReply.Int(entry?.AsHash.Count ?? 0);
    }

    private CacheReply HExists(string key, string field)
    {
        var entry = Readable(key, CacheValueType.Hash, out var wrong);
        return wrong ? WrongTypeReply : CacheReply.Int(entry is not null && entry.AsHash.ContainsKey(field) ? 1 : 0);
    }

    // ---- Lists ----

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
        return hasCount ? CacheReply.Array(popped) : popped[0];
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

    /// <summary>Redis's rank-range rules: negative indexes from the end, clamped; false when empty.</summary>
    private static bool NormalizeRange(long length, ref long start, ref long stop)
    {
        if (start < 0)
        {
            start += length;
        }

        if (stop < 0)
        {
            stop += length;
        }

        if (start < 0)
        {
            start = 0;
        }

        if (start > stop || start >= length)
        {
            return false;
        }

        if (stop >= length)
        {
            stop = length - 1;
        }

        return true;
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

    // ---- Sets ----

    private CacheReply SAdd(IReadOnlyList<string> a)
    {
        var entry = Writable(a[1], CacheValueType.Set, out var wrong);
        if (wrong)
        {
            return WrongTypeReply;
        }

        entry ??= AddEntry(a[1], CacheValueType.Set, new HashSet<string>(StringComparer.Ordinal));
        var added = 0;
        long delta = 0;
        for (var i = 2; i < a.Count; i++)
        {
            if (entry.AsSet.Add(a[i]))
            {
                added++;
                delta += SetMemberOverhead + (2L * a[i].Length);
            }
        }

        Written(entry, delta);
        return CacheReply.Int(added);
    }

    private CacheReply SRem(IReadOnlyList<string> a) =>
        RemoveMembers(a, CacheValueType.Set, SetMemberOverhead, static (e, m) => e.AsSet.Remove(m), static e => e.AsSet.Count);

    private CacheReply SMembers(string key)
    {
        var entry = Readable(key, CacheValueType.Set, out var wrong);
        if (wrong)
        {
            return WrongTypeReply;
        }

        return entry is null ? CacheReply.EmptyArray : CacheReply.BulkArray(entry.AsSet);
    }

    private CacheReply SIsMember(string key, string member)
    {
        var entry = Readable(key, CacheValueType.Set, out var wrong);
        return wrong ? WrongTypeReply : CacheReply.Int(entry is not null && entry.AsSet.Contains(member) ? 1 : 0);
    }

    private CacheReply SCard(string key)
    {
        var entry = Readable(key, CacheValueType.Set, out var wrong);
        return wrong ? WrongTypeReply : CacheReply.Int(entry?.AsSet.Count ?? 0);
    }

    // ---- Sorted sets ----

    private CacheReply ZAdd(IReadOnlyList<string> a, int first, bool incrOnly)
    {
        bool nx = false, xx = false, ch = false, incr = false, gt = false, lt = false;
        var scoreIndex = first;
        for (; scoreIndex < a.Count; scoreIndex++)
        {
            var opt = a[scoreIndex];
            if (Is(opt, "NX"))
            {
                nx = true;
            }
            else if (Is(opt, "XX"))
            {
                xx = true;
            }
            else if (Is(opt, "CH"))
            {
                ch = true;
            }
            else if (Is(opt, "INCR"))
            {
                incr = true;
            }
            else if (Is(opt, "GT"))
            {
                gt = true;
            }
            else if (Is(opt, "LT"))
            {
                lt = true;
            }
            else
            {
                break;
            }
        }

        var elements = a.Count - scoreIndex;
        if (elements % 2 != 0 || elements == 0)
        {
            return SyntaxReply;
        }

        elements /= 2;
        if (nx && xx)
        {
            return CacheReply.Error("ERR XX and NX options at the same time are not compatible");
        }

        if ((gt && nx) || (lt && nx) || (gt && lt))
        {
            return CacheReply.Error("ERR GT, LT, and/or NX options at the same time are not compatible");
        }

        if (incr && elements > 1)
        {
            return CacheReply.Error("ERR INCR option supports a single increment-element pair");
        }

        var scores = new double[elements];
        for (var j = 0; j < elements; j++)
        {
            if (!RedisText.TryParseDouble(a[scoreIndex + (j * 2)], out scores[j]))
            {
                return NotFloatReply;
            }
        }

        var entry = Writable(a[1], CacheValueType.ZSet, out var wrong);
        if (wrong)
        {
            return WrongTypeReply;
        }

        long added = 0, updated = 0, processed = 0;
        var score = 0.0;
        if (entry is null && !xx)
        {
            entry = AddEntry(a[1], CacheValueType.ZSet, new SortedSetValue());
        }

        if (entry is not null)
        {
            var zset = entry.AsZSet;
            long delta = 0;
            for (var j = 0; j < elements; j++)
            {
                score = scores[j];
                var member = a[scoreIndex + (j * 2) + 1];
                if (zset.Scores.TryGetValue(member, out var current))
                {
                    if (nx)
                    {
                        continue;
                    }

                    if (incr)
                    {
                        score += current;
                        if (double.IsNaN(score))
                        {
                            RemoveIfEmpty(entry, zset.Count);
                            return CacheReply.Error("ERR resulting score is not a number (NaN)");
                        }
                    }

                    if ((gt && score <= current) || (lt && score >= current))
                    {
                        continue;
                    }

                    processed++;
                    if (score != current)
                    {
                        zset.Set(member, score);
                        updated++;
                    }
                }
                else if (!xx)
                {
                    zset.Set(member, score);
                    delta += ZSetMemberOverhead + (2L * member.Length);
                    added++;
                    processed++;
                }
            }

            if (added + updated > 0)
            {
                Written(entry, delta);
            }

            RemoveIfEmpty(entry, zset.Count);
        }

        if (incr)
        {
            return processed > 0 ? CacheReply.Bulk(RedisText.FormatScore(score)) : CacheReply.Nil;
        }

        _ = incrOnly;
        return CacheReply.Int(ch ? added + updated : added);
    }

    private CacheReply ZRem(IReadOnlyList<string> a) =>
        RemoveMembers(a, CacheValueType.ZSet, ZSetMemberOverhead, static (e, m) => e.AsZSet.Remove(m), static e => e.AsZSet.Count);

    /// <summary>SREM and ZREM: remove the members in a[2..], account their memory, drop the key when empty.</summary>
    private CacheReply RemoveMembers(
        IReadOnlyList<string> a,
        CacheValueType type,
        long memberOverhead,
        Func<CacheEntry, string, bool> remove,
        Func<CacheEntry, int> count)
    {
        var entry = Writable(a[1], type, out var wrong);
        if (wrong)
        {
            return WrongTypeReply;
        }

        if (entry is null)
        {
            return CacheReply.Zero;
        }

        var removed = 0;
        long delta = 0;
        for (var i = 2; i < a.Count; i++)
        {
            if (remove(entry, a[i]))
            {
                removed++;
                delta -= memberOverhead + (2L * a[i].Length);
            }
        }

        if (removed > 0)
        {
            Written(entry, delta);
            RemoveIfEmpty(entry, count(entry));
        }

        return CacheReply.Int(removed);
    }

    private CacheReply ZScore(string key, string member)
    {
        var entry = Readable(key, CacheValueType.ZSet, out var wrong);
        if (wrong)
        {
            return WrongTypeReply;
        }

        return entry is not null && entry.AsZSet.Scores.TryGetValue(member, out var score) ? CacheReply.Bulk(RedisText.FormatScore(score)) : CacheReply.Nil;
    }

    private CacheReply ZRank(string key, string member)
    {
        var entry = Readable(key, CacheValueType.ZSet, out var wrong);
        if (wrong)
        {
            return WrongTypeReply;
        }

        return entry is not null && entry.AsZSet.Scores.TryGetValue(member, out var score) ? CacheReply.Int(entry.AsZSet.Rank(member, score)) : CacheReply.Nil;
    }

    private CacheReply ZCard(string key)
    {
        var entry = Readable(key, CacheValueType.ZSet, out var wrong);
        return wrong ? WrongTypeReply : CacheReply.Int(entry?.AsZSet.Count ?? 0);
    }

    private CacheReply ZRange(IReadOnlyList<string> a, bool byScoreCommand)
    {
        const int Auto = 0, Rank = 1, Score = 2, Lex = 3;
        var withScores = false;
        long offset = 0, limit = -1;
        var reverse = false;
        var directionSet = byScoreCommand;
        var type = byScoreCommand ? Score : Auto;
        for (var j = 4; j < a.Count; j++)
        {
            var left = a.Count - j - 1;
            if (Is(a[j], "WITHSCORES"))
            {
                withScores = true;
            }
            else if (Is(a[j], "LIMIT") && left >= 2)
            {
                if (!RedisText.TryParseInt64(a[j + 1], out offset) || !RedisText.TryParseInt64(a[j + 2], out limit))
                {
                    return NotIntegerReply;
                }

                j += 2;
            }
            else if (!directionSet && Is(a[j], "REV"))
            {
                reverse = true;
                directionSet = true;
            }
            else if (type == Auto && Is(a[j], "BYLEX"))
            {
                type = Lex;
            }
            else if (type == Auto && Is(a[j], "BYSCORE"))
            {
                type = Score;
            }
            else
            {
                return SyntaxReply;
            }
        }

        if (type == Auto)
        {
            type = Rank;
        }

        if (limit != -1 && type == Rank)
        {
            return CacheReply.Error("ERR syntax error, LIMIT is only supported in combination with either BYSCORE or BYLEX");
        }

        if (type == Lex)
        {
            return CacheReply.Error("ERR BYLEX is not supported by this cache");
        }

        var minText = a[2];
        var maxText = a[3];
        if (reverse && type == Score)
        {
            (minText, maxText) = (maxText, minText);
        }

        long start = 0, stop = 0;
        ScoreBound min = default, max = default;
        if (type == Rank)
        {
            if (!RedisText.TryParseInt64(minText, out start) || !RedisText.TryParseInt64(maxText, out stop))
            {
                return NotIntegerReply;
            }
        }
        else if (!ScoreBound.TryParse(minText, out min) || !ScoreBound.TryParse(maxText, out max))
        {
            return CacheReply.Error("ERR min or max is not a float");
        }

        var entry = Readable(a[1], CacheValueType.ZSet, out var wrong);
        if (wrong)
        {
            return WrongTypeReply;
        }

        if (entry is null)
        {
            return CacheReply.EmptyArray;
        }

        var order = entry.AsZSet.Order;
        var selected = new List<(double Score, string Member)>();
        if (type == Rank)
        {
            if (NormalizeRange(order.Count, ref start, ref stop))
            {
                var ranked = reverse ? order.Reverse() : order;
                selected.AddRange(ranked.Skip((int)start).Take((int)(stop - start + 1)));
            }
        }
        else
        {
            var candidates = reverse ? order.Reverse() : order;
            var skipped = 0L;
            foreach (var item in candidates)
            {
                var aboveMin = min.Exclusive ? item.Score > min.Value : item.Score >= min.Value;
                var belowMax = max.Exclusive ? item.Score < max.Value : item.Score <= max.Value;
                if (!aboveMin || !belowMax)
                {
                    if ((reverse && !aboveMin) || (!reverse && !belowMax))
                    {
                        break;
                    }

                    continue;
                }

                if (skipped < offset)
                {
                    skipped++;
                    continue;
                }

                if (offset < 0 || (limit >= 0 && selected.Count >= limit))
                {
                    break;
                }

                selected.Add(item);
            }
        }

        var replies = new List<CacheReply>(selected.Count * (withScores ? 2 : 1));
        foreach (var (score, member) in selected)
        {
            replies.Add(CacheReply.Bulk(member));
            if (withScores)
            {
                replies.Add(CacheReply.Bulk(RedisText.FormatScore(score)));
            }
        }

        return CacheReply.Array([.. replies]);
    }

    private readonly record struct ScoreBound(double Value, bool Exclusive)
    {
        public static bool TryParse(string text, out ScoreBound bound)
        {
            var exclusive = text.StartsWith('(');
            var ok = RedisText.TryParseRangeDouble(exclusive ? text[1..] : text, out var value);
            bound = new ScoreBound(value, exclusive);
            return ok;
        }
    }
}
