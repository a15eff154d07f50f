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
        new("ZRANGE", -4, R, 1, 1, 1, static (k, a) => k.ZRange(a, byScoreCommand: false)),
        new("ZRANGEBYSCORE", -4, R, 1, 1, 1, static (k, a) => k.ZRange(a, byScoreCommand: true)),
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
