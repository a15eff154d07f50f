namespace Granary.Caching;

/// <summary>The sorted-set commands.</summary>
public sealed partial class CacheKeyspace
{
    private const long ZSetMemberOverhead = 96;

    /// <summary>The sorted sets module: each command with its arity, flags, key positions and handler.</summary>
    private static CacheCommandModule SortedSetCommands() => new("sorted sets",
    [
        new("ZADD", -4, W, 1, 1, 1, static (k, a) => k.ZAdd(a, 2, incrOnly: false)),
        new("ZREM", -3, D, 1, 1, 1, static (k, a) => k.ZRem(a)),
        new("ZSCORE", 3, R, 1, 1, 1, static (k, a) => k.ZScore(a[1], a[2])),
        new("ZINCRBY", 4, W, 1, 1, 1, static (k, a) => k.ZAdd(["ZADD", a[1], "INCR", a[2], a[3]], 2, incrOnly: true)),
        new("ZRANGE", -4, R, 1, 1, 1, static (k, a) => k.ZRange(a, RangeBy.Auto, reverse: null)),
        new("ZRANGEBYSCORE", -4, R, 1, 1, 1, static (k, a) => k.ZRange(a, RangeBy.Score, reverse: false)),
        new("ZREVRANGE", -4, R, 1, 1, 1, static (k, a) => k.ZRange(a, RangeBy.Rank, reverse: true)),
        new("ZREVRANGEBYSCORE", -4, R, 1, 1, 1, static (k, a) => k.ZRange(a, RangeBy.Score, reverse: true)),
        new("ZRANGEBYLEX", -4, R, 1, 1, 1, static (k, a) => k.ZRange(a, RangeBy.Lex, reverse: false)),
        new("ZREVRANGEBYLEX", -4, R, 1, 1, 1, static (k, a) => k.ZRange(a, RangeBy.Lex, reverse: true)),
        new("ZCOUNT", 4, R, 1, 1, 1, static (k, a) => k.ZCount(a, RangeBy.Score)),
        new("ZLEXCOUNT", 4, R, 1, 1, 1, static (k, a) => k.ZCount(a, RangeBy.Lex)),
        new("ZPOPMIN", -2, D, 1, 1, 1, static (k, a) => k.ZPop(a, max: false)),
        new("ZPOPMAX", -2, D, 1, 1, 1, static (k, a) => k.ZPop(a, max: true)),
        new("ZMPOP", -4, D | S, 2, -1, 1, static (k, a) => k.ZMPop(a), numKeysIndex: 1),
        new("ZRANK", 3, R, 1, 1, 1, static (k, a) => k.ZRank(a[1], a[2])),
        new("ZCARD", 2, R, 1, 1, 1, static (k, a) => k.ZCard(a[1])),
    ]);

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

    private enum RangeBy
    {
        Auto,
        Rank,
        Score,
        Lex,
    }

    /// <summary>
    /// ZRANGE and its older forms, as Redis 7.0's <c>zrangeGenericCommand</c>: a form fixes the range type and
    /// direction (null <paramref name="reverse"/> lets REV choose), options are parsed, then the range, then the key.
    /// </summary>
    private CacheReply ZRange(IReadOnlyList<string> a, RangeBy type, bool? reverse)
    {
        var withScores = false;
        long offset = 0, limit = -1;
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
            else if (reverse is null && Is(a[j], "REV"))
            {
                reverse = true;
            }
            else if (type == RangeBy.Auto && Is(a[j], "BYLEX"))
            {
                type = RangeBy.Lex;
            }
            else if (type == RangeBy.Auto && Is(a[j], "BYSCORE"))
            {
                type = RangeBy.Score;
            }
            else
            {
                return SyntaxReply;
            }
        }

        var backwards = reverse ?? false;
        if (type == RangeBy.Auto)
        {
            type = RangeBy.Rank;
        }

        if (limit != -1 && type == RangeBy.Rank)
        {
            return CacheReply.Error("ERR syntax error, LIMIT is only supported in combination with either BYSCORE or BYLEX");
        }

        if (withScores && type == RangeBy.Lex)
        {
            return CacheReply.Error("ERR syntax error, WITHSCORES not supported in combination with BYLEX");
        }

        var minText = a[2];
        var maxText = a[3];
        if (backwards && type != RangeBy.Rank)
        {
            (minText, maxText) = (maxText, minText);
        }

        long start = 0, stop = 0;
        Func<(double Score, string Member), bool>? aboveMin = null, belowMax = null;
        if (type == RangeBy.Rank)
        {
            if (!RedisText.TryParseInt64(minText, out start) || !RedisText.TryParseInt64(maxText, out stop))
            {
                return NotIntegerReply;
            }
        }
        else if (ParseRange(type, minText, maxText, out aboveMin, out belowMax, out var empty) is { } invalid)
        {
            return invalid;
        }
        else if (empty)
        {
            aboveMin = belowMax = static _ => false;
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
        if (type == RangeBy.Rank)
        {
            if (NormalizeRange(order.Count, ref start, ref stop))
            {
                var ranked = backwards ? order.Reverse() : order;
                selected.AddRange(ranked.Skip((int)start).Take((int)(stop - start + 1)));
            }
        }
        else if (InRange(order, aboveMin!, belowMax!))
        {
            var candidates = backwards ? order.Reverse() : order;
            var skipped = 0L;
            var started = false;
            foreach (var item in candidates)
            {
                // Redis walks from the first element inside the range (from the top when reversed) and stops at the
                // first one past its other end: the same answer as filtering when the order is the range's order.
                var inside = backwards ? belowMax!(item) : aboveMin!(item);
                var before = backwards ? aboveMin!(item) : belowMax!(item);
                if (!started)
                {
                    if (!inside)
                    {
                        continue;
                    }

                    started = true;
                }

                if (!before)
                {
                    break;
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

    /// <summary>
    /// Parses a score or lex range into its two tests; <paramref name="empty"/> when the range holds nothing (min
    /// above max, or equal with an exclusive end), as Redis decides before it looks at the set.
    /// </summary>
    private static CacheReply? ParseRange(
        RangeBy type,
        string minText,
        string maxText,
        out Func<(double Score, string Member), bool> aboveMin,
        out Func<(double Score, string Member), bool> belowMax,
        out bool empty)
    {
        aboveMin = belowMax = static _ => false;
        empty = false;
        if (type == RangeBy.Score)
        {
            if (!ScoreBound.TryParse(minText, out var min) || !ScoreBound.TryParse(maxText, out var max))
            {
                return CacheReply.Error("ERR min or max is not a float");
            }

            aboveMin = item => min.Exclusive ? item.Score > min.Value : item.Score >= min.Value;
            belowMax = item => max.Exclusive ? item.Score < max.Value : item.Score <= max.Value;
            empty = min.Value > max.Value || (min.Value == max.Value && (min.Exclusive || max.Exclusive));
            return null;
        }

        if (!LexBound.TryParse(minText, out var lexMin) || !LexBound.TryParse(maxText, out var lexMax))
        {
            return CacheReply.Error("ERR min or max not valid string range item");
        }

        aboveMin = item => lexMin.AtMost(item.Member);
        belowMax = item => lexMax.AtLeast(item.Member);
        var c = LexBound.Compare(lexMin, lexMax);
        empty = c > 0 || (c == 0 && (lexMin.Exclusive || lexMax.Exclusive));
        return null;
    }

    /// <summary>Redis's <c>zzlIsInRange</c> / <c>zzlIsInLexRange</c>: the last element reaches the minimum and the first the maximum.</summary>
    private static bool InRange(SortedSet<(double Score, string Member)> order, Func<(double Score, string Member), bool> aboveMin, Func<(double Score, string Member), bool> belowMax) =>
        order.Count > 0 && aboveMin(order.Max) && belowMax(order.Min);

    /// <summary>ZCOUNT and ZLEXCOUNT: the members inside the range, the range parsed before the key is read.</summary>
    private CacheReply ZCount(IReadOnlyList<string> a, RangeBy type)
    {
        if (ParseRange(type, a[2], a[3], out var aboveMin, out var belowMax, out var empty) is { } invalid)
        {
            return invalid;
        }

        var entry = Readable(a[1], CacheValueType.ZSet, out var wrong);
        if (wrong)
        {
            return WrongTypeReply;
        }

        if (entry is null || empty || !InRange(entry.AsZSet.Order, aboveMin, belowMax))
        {
            return CacheReply.Zero;
        }

        long count = 0;
        var started = false;
        foreach (var item in entry.AsZSet.Order)
        {
            if (!started && !aboveMin(item))
            {
                continue;
            }

            started = true;
            if (!belowMax(item))
            {
                break;
            }

            count++;
        }

        return CacheReply.Int(count);
    }

    /// <summary>ZPOPMIN / ZPOPMAX key [count]: removes the lowest (highest) members; a flat member, score array.</summary>
    private CacheReply ZPop(IReadOnlyList<string> a, bool max)
    {
        if (a.Count > 3)
        {
            return SyntaxReply;
        }

        long count = 1;
        if (a.Count == 3 && (!RedisText.TryParseInt64(a[2], out count) || count < 0))
        {
            return CacheReply.Error(RedisText.MustBePositive);
        }

        var entry = Writable(a[1], CacheValueType.ZSet, out var wrong);
        if (wrong)
        {
            return WrongTypeReply;
        }

        if (entry is null || count == 0)
        {
            return CacheReply.EmptyArray;
        }

        return CacheReply.Array(ZPopItems(entry, max, count, nested: false));
    }

    /// <summary>
    /// Pops up to <paramref name="count"/> lowest or highest members of a sorted-set entry: a flat member, score
    /// array (ZPOPMIN, ZPOPMAX), or [member, score] pairs when <paramref name="nested"/> (ZMPOP).
    /// </summary>
    private CacheReply[] ZPopItems(CacheEntry entry, bool max, long count, bool nested)
    {
        var zset = entry.AsZSet;
        var take = (int)Math.Min(count, zset.Count);
        var replies = new CacheReply[nested ? take : take * 2];
        long delta = 0;
        for (var i = 0; i < take; i++)
        {
            var (score, member) = max ? zset.Order.Max : zset.Order.Min;
            zset.Remove(member);
            delta -= ZSetMemberOverhead + (2L * member.Length);
            var memberReply = CacheReply.Bulk(member);
            var scoreReply = CacheReply.Bulk(RedisText.FormatScore(score));
            if (nested)
            {
                replies[i] = CacheReply.Array([memberReply, scoreReply]);
            }
            else
            {
                replies[2 * i] = memberReply;
                replies[(2 * i) + 1] = scoreReply;
            }
        }

        Written(entry, delta);
        RemoveIfEmpty(entry, zset.Count);
        return replies;
    }

    /// <summary>A lex range end: <c>-</c>, <c>+</c>, <c>[member</c> (inclusive) or <c>(member</c> (exclusive).</summary>
    private readonly record struct LexBound(int Infinity, string Member, bool Exclusive)
    {
        public static bool TryParse(string text, out LexBound bound)
        {
            switch (text)
            {
                case "-":
                    bound = new LexBound(-1, string.Empty, false);
                    return true;
                case "+":
                    bound = new LexBound(1, string.Empty, false);
                    return true;
            }

            // On the bytes: the member after [ or ( may be any bytes (and text after [ may read as an escaped string on its own).
            var bytes = CacheBytes.GetBytes(text);
            if (bytes is not [(byte)'[' or (byte)'(', ..])
            {
                bound = default;
                return false;
            }

            bound = new LexBound(0, CacheBytes.FromBytes(bytes.AsSpan(1)), bytes[0] == (byte)'(');
            return true;
        }

        /// <summary>Redis's <c>sdscmplex</c> on two range ends.</summary>
        public static int Compare(LexBound x, LexBound y)
        {
            if (x.Infinity == y.Infinity && x.Infinity != 0)
            {
                return 0;
            }

            if (x.Infinity == -1 || y.Infinity == 1)
            {
                return -1;
            }

            if (x.Infinity == 1 || y.Infinity == -1)
            {
                return 1;
            }

            return Math.Sign(CacheBytes.Compare(x.Member, y.Member));
        }

        /// <summary>True when <paramref name="member"/> is at or above this minimum.</summary>
        public bool AtMost(string member) => Infinity switch
        {
            -1 => true,
            1 => false,
            _ => Exclusive ? CacheBytes.Compare(member, Member) > 0 : CacheBytes.Compare(member, Member) >= 0,
        };

        /// <summary>True when <paramref name="member"/> is at or below this maximum.</summary>
        public bool AtLeast(string member) => Infinity switch
        {
            -1 => false,
            1 => true,
            _ => Exclusive ? CacheBytes.Compare(member, Member) < 0 : CacheBytes.Compare(member, Member) <= 0,
        };
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
