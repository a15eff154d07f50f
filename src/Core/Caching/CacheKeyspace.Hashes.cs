namespace Granary.Caching;

/// <summary>The hash commands.</summary>
public sealed partial class CacheKeyspace
{
    private const long HashFieldOverhead = 64;

    /// <summary>The hashes module: each command with its arity, flags, key positions and handler.</summary>
    private static CacheCommandModule HashCommands() => new("hashes",
    [
        new("HSET", -4, W, 1, 1, 1, static (k, a) => k.HSet(a)),
        new("HMSET", -4, W, 1, 1, 1, static (k, a) => k.HSet(a) is { IsError: true } error ? error : CacheReply.Ok),
        new("HGET", 3, R, 1, 1, 1, static (k, a) => k.HGet(a[1], a[2])),
        new("HDEL", -3, D, 1, 1, 1, static (k, a) => k.HDel(a)),
        new("HGETALL", 2, R, 1, 1, 1, static (k, a) => k.HGetAll(a[1])),
        new("HINCRBY", 4, W, 1, 1, 1, static (k, a) => k.HIncrBy(a[1], a[2], a[3])),
        new("HLEN", 2, R, 1, 1, 1, static (k, a) => k.HLen(a[1])),
        new("HEXISTS", 3, R, 1, 1, 1, static (k, a) => k.HExists(a[1], a[2])),
        new("HMGET", -3, R, 1, 1, 1, static (k, a) => k.HMGet(a)),
        new("HKEYS", 2, R, 1, 1, 1, static (k, a) => k.HPart(a[1], keys: true)),
        new("HVALS", 2, R, 1, 1, 1, static (k, a) => k.HPart(a[1], keys: false)),
        new("HRANDFIELD", -2, R, 1, 1, 1, static (k, a) => k.HRandField(a)),
        new("HINCRBYFLOAT", 4, W, 1, 1, 1, static (k, a) => k.HIncrByFloat(a[1], a[2], a[3])),
    ]);

    private CacheReply HSet(IReadOnlyList<string> a)
    {
        if (a.Count % 2 == 1)
        {
            return CacheReply.Error(RedisText.Arity(a[0]));
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

    private CacheReply HMGet(IReadOnlyList<string> a)
    {
        var entry = Readable(a[1], CacheValueType.Hash, out var wrong);
        if (wrong)
        {
            return WrongTypeReply;
        }

        var replies = new CacheReply[a.Count - 2];
        for (var i = 2; i < a.Count; i++)
        {
            replies[i - 2] = entry is not null && entry.AsHash.TryGetValue(a[i], out var value) ? CacheReply.Bulk(value) : CacheReply.Nil;
        }

        return CacheReply.Array(replies);
    }

    private CacheReply HPart(string key, bool keys)
    {
        var entry = Readable(key, CacheValueType.Hash, out var wrong);
        if (wrong)
        {
            return WrongTypeReply;
        }

        return entry is null ? CacheReply.EmptyArray : CacheReply.BulkArray(keys ? entry.AsHash.Keys : entry.AsHash.Values);
    }

    /// <summary>HRANDFIELD key [count [WITHVALUES]]: random fields from the engine's seeded random source.</summary>
    private CacheReply HRandField(IReadOnlyList<string> a)
    {
        var withValues = false;
        if (a.Count == 4 && Is(a[3], "WITHVALUES"))
        {
            withValues = true;
        }
        else if (a.Count >= 4)
        {
            return SyntaxReply;
        }

        long count = 0;
        if (a.Count >= 3 && ParseRandomCount(a[2], out count) is { } invalid)
        {
            return invalid;
        }

        if (withValues && count < 0 && -count > long.MaxValue / 2)
        {
            return CacheReply.Error("ERR value is out of range");
        }

        var entry = Readable(a[1], CacheValueType.Hash, out var wrong);
        if (wrong)
        {
            return WrongTypeReply;
        }

        var hash = entry?.AsHash;
        if (a.Count == 2)
        {
            return hash is null ? CacheReply.Nil : CacheReply.Bulk(hash.ElementAt(_random.Next(hash.Count)).Key);
        }

        if (hash is null || count == 0)
        {
            return CacheReply.EmptyArray;
        }

        var fields = RandomElements(hash.Keys, hash.Count, count, out var refused);
        if (refused is not null)
        {
            return refused;
        }

        var replies = new List<CacheReply>(fields.Count * (withValues ? 2 : 1));
        foreach (var field in fields)
        {
            replies.Add(CacheReply.Bulk(field));
            if (withValues)
            {
                replies.Add(CacheReply.Bulk(hash[field]));
            }
        }

        return CacheReply.Array([.. replies]);
    }

    /// <summary>HINCRBYFLOAT key field increment, with INCRBYFLOAT's arithmetic and printing.</summary>
    private CacheReply HIncrByFloat(string key, string field, string amount)
    {
        if (RedisText.IncrementFloat(null, amount, out var error) is null)
        {
            return error == RedisText.NotFloat ? NotFloatReply : CacheReply.Error("ERR value is NaN or Infinity");
        }

        var entry = Writable(key, CacheValueType.Hash, out var wrong);
        if (wrong)
        {
            return WrongTypeReply;
        }

        string? old = null;
        _ = entry is not null && entry.AsHash.TryGetValue(field, out old);
        if (RedisText.IncrementFloat(old, amount, out error) is not { } text)
        {
            return CacheReply.Error(error == RedisText.NotFloat ? "ERR hash value is not a float" : error!);
        }

        entry ??= AddEntry(key, CacheValueType.Hash, new Dictionary<string, string>(StringComparer.Ordinal));
        entry.AsHash[field] = text;
        Written(entry, old is null ? HashFieldOverhead + (2L * (field.Length + text.Length)) : 2L * (text.Length - old.Length));
        return CacheReply.Bulk(text);
    }
}
