using System.Text;

namespace Granary.Caching;

/// <summary>Dispatch, string commands and key commands.</summary>
public sealed partial class CacheKeyspace
{
    private const long StringOverhead = 24;

    private static readonly CacheReply WrongTypeReply = CacheReply.Error(RedisText.WrongType);
    private static readonly CacheReply NotIntegerReply = CacheReply.Error(RedisText.NotInteger);
    private static readonly CacheReply NotFloatReply = CacheReply.Error(RedisText.NotFloat);
    private static readonly CacheReply SyntaxReply = CacheReply.Error(RedisText.Syntax);

    private CacheReply Dispatch(string name, IReadOnlyList<string> a) => name switch
    {
        "GET" => Get(a[1]),
        "SET" => Set(a),
        "GETSET" => GetSet(a[1], a[2]),
        "GETDEL" => GetDel(a[1]),
        "INCR" => IncrBy(a[1], 1),
        "DECR" => IncrBy(a[1], -1),
        "INCRBY" => RedisText.TryParseInt64(a[2], out var by) ? IncrBy(a[1], by) : NotIntegerReply,
        "DECRBY" => DecrBy(a[1], a[2]),
        "INCRBYFLOAT" => IncrByFloat(a[1], a[2]),
        "APPEND" => Append(a[1], a[2]),
        "STRLEN" => StrLen(a[1]),
        "MGET" => MGet(a),
        "MSET" => MSet(a),
        "GETS" => Gets(a[1]),
        "CAS" => Cas(a),
        "DEL" or "UNLINK" => Del(a),
        "EXISTS" => Exists(a),
        "EXPIRE" => Expire(a, 1000),
        "PEXPIRE" => Expire(a, 1),
        "TTL" => Ttl(a[1], 1000),
        "PTTL" => Ttl(a[1], 1),
        "PERSIST" => Persist(a[1]),
        "TYPE" => TypeOf(a[1]),
        "SCAN" => Scan(a),
        "KEYS" => Keys(a[1]),
        "DBSIZE" => CacheReply.Int(_entries.Count),
        "FLUSHALL" or "FLUSHDB" => Flush(a),
        "PING" => a.Count switch
        {
            1 => CacheReply.Status("PONG"),
            2 => CacheReply.Bulk(a[1]),
            _ => CacheReply.Error(RedisText.Arity("ping")),
        },
        "HSET" => HSet(a),
        "HGET" => HGet(a[1], a[2]),
        "HDEL" => HDel(a),
        "HGETALL" => HGetAll(a[1]),
        "HINCRBY" => HIncrBy(a[1], a[2], a[3]),
        "HLEN" => HLen(a[1]),
        "HEXISTS" => HExists(a[1], a[2]),
        "LPUSH" => Push(a, front: true),
        "RPUSH" => Push(a, front: false),
        "LPOP" => Pop(a, front: true),
        "RPOP" => Pop(a, front: false),
        "LRANGE" => LRange(a[1], a[2], a[3]),
        "LLEN" => LLen(a[1]),
        "LINDEX" => LIndex(a[1], a[2]),
        "LREM" => LRem(a[1], a[2], a[3]),
        "SADD" => SAdd(a),
        "SREM" => SRem(a),
        "SMEMBERS" => SMembers(a[1]),
        "SISMEMBER" => SIsMember(a[1], a[2]),
        "SCARD" => SCard(a[1]),
        "ZADD" => ZAdd(a, 2, incrOnly: false),
        "ZINCRBY" => ZAdd(["ZADD", a[1], "INCR", a[2], a[3]], 2, incrOnly: true),
        "ZREM" => ZRem(a),
        "ZSCORE" => ZScore(a[1], a[2]),
        "ZRANGE" => ZRange(a, byScoreCommand: false),
        "ZRANGEBYSCORE" => ZRange(a, byScoreCommand: true),
        "ZRANK" => ZRank(a[1], a[2]),
        "ZCARD" => ZCard(a[1]),
        _ => CacheReply.Error(RedisText.UnknownCommand(a)),
    };

    private static long StringSize(string value) => StringOverhead + (2L * value.Length);

    private static bool Is(string text, string option) => string.Equals(text, option, StringComparison.OrdinalIgnoreCase);

    /// <summary>Stores a string at <paramref name="key"/>, replacing a string in place (keeps the TTL) or creating it.</summary>
    private CacheEntry StoreString(string key, string value, CacheEntry? existing)
    {
        if (existing is not null && existing.Type != CacheValueType.String)
        {
            var ttl = existing.ExpiresAt;
            RemoveEntry(existing);
            var replaced = AddEntry(key, CacheValueType.String, value);
            Written(replaced, StringSize(value));
            SetExpiry(replaced, ttl);
            return replaced;
        }

        if (existing is null)
        {
            var created = AddEntry(key, CacheValueType.String, value);
            Written(created, StringSize(value));
            return created;
        }

        var delta = 2L * (value.Length - existing.AsString.Length);
        existing.Value = value;
        Written(existing, delta);
        return existing;
    }

    private CacheReply Get(string key)
    {
        var entry = LookupRead(key);
        if (entry is null)
        {
            return CacheReply.Nil;
        }

        return entry.Type == CacheValueType.String ? CacheReply.Bulk(entry.AsString) : WrongTypeReply;
    }

    private CacheReply Set(IReadOnlyList<string> a)
    {
        bool nx = false, xx = false, get = false, keepTtl = false;
        var unit = 0; // 1 EX, 2 PX, 3 EXAT, 4 PXAT
        string? expireText = null;
        for (var j = 3; j < a.Count; j++)
        {
            var opt = a[j];
            var hasNext = j + 1 < a.Count;
            if (Is(opt, "NX") && !xx)
            {
                nx = true;
            }
            else if (Is(opt, "XX") && !nx)
            {
                xx = true;
            }
            else if (Is(opt, "GET"))
            {
                get = true;
            }
            else if (Is(opt, "KEEPTTL") && unit == 0)
            {
                keepTtl = true;
            }
            else if (!keepTtl && hasNext && TimeUnitOf(opt) is var u and > 0 && (unit == 0 || unit == u))
            {
                unit = u;
                expireText = a[++j];
            }
            else
            {
                return SyntaxReply;
            }
        }

        long expireAt = -1;
        if (expireText is not null)
        {
            if (!RedisText.TryParseInt64(expireText, out var amount))
            {
                return NotIntegerReply;
            }

            var seconds = unit is 1 or 3;
            if (amount <= 0 || (seconds && amount > long.MaxValue / 1000))
            {
                return CacheReply.Error(RedisText.InvalidExpire("set"));
            }

            var ms = seconds ? amount * 1000 : amount;
            if (unit is 1 or 2)
            {
                if (ms > long.MaxValue - _now)
                {
                    return CacheReply.Error(RedisText.InvalidExpire("set"));
                }

                ms += _now;
            }

            expireAt = ms;
        }

        var key = a[1];
        CacheEntry? existing;
        string? old = null;
        if (get)
        {
            existing = LookupRead(key);
            if (existing is not null && existing.Type != CacheValueType.String)
            {
                return WrongTypeReply;
            }

            old = existing?.AsString;
        }
        else
        {
            existing = LookupWrite(key);
        }

        if ((nx && existing is not null) || (xx && existing is null))
        {
            return get ? CacheReply.Bulk(old) : CacheReply.Nil;
        }

        var entry = StoreString(key, a[2], existing);
        if (expireAt >= 0)
        {
            SetExpiry(entry, expireAt);
        }
        else if (!keepTtl)
        {
            SetExpiry(entry, -1);
        }

        return get ? CacheReply.Bulk(old) : CacheReply.Ok;
    }

    private static int TimeUnitOf(string option) =>
        Is(option, "EX") ? 1 : Is(option, "PX") ? 2 : Is(option, "EXAT") ? 3 : Is(option, "PXAT") ? 4 : 0;

    private CacheReply GetSet(string key, string value)
    {
        var existing = LookupRead(key);
        if (existing is not null && existing.Type != CacheValueType.String)
        {
            return WrongTypeReply;
        }

        var old = existing?.AsString;
        var entry = StoreString(key, value, existing);
        SetExpiry(entry, -1);
        return CacheReply.Bulk(old);
    }

    private CacheReply GetDel(string key)
    {
        var existing = LookupRead(key);
        if (existing is null)
        {
            return CacheReply.Nil;
        }

        if (existing.Type != CacheValueType.String)
        {
            return WrongTypeReply;
        }

        RemoveEntry(existing);
        return CacheReply.Bulk(existing.AsString);
    }

    private CacheReply DecrBy(string key, string amount)
    {
        if (!RedisText.TryParseInt64(amount, out var by))
        {
            return NotIntegerReply;
        }

        return by == long.MinValue ? CacheReply.Error("ERR decrement would overflow") : IncrBy(key, -by);
    }

    private CacheReply IncrBy(string key, long by)
    {
        var existing = LookupWrite(key);
        if (existing is not null && existing.Type != CacheValueType.String)
        {
            return WrongTypeReply;
        }

        long value = 0;
        if (existing is not null && !RedisText.TryParseInt64(existing.AsString, out value))
        {
            return NotIntegerReply;
        }

        if ((by < 0 && value < 0 && by < long.MinValue - value) || (by > 0 && value > 0 && by > long.MaxValue - value))
        {
            return CacheReply.Error(RedisText.Overflow);
        }

        var result = value + by;
        StoreString(key, RedisText.FormatInt(result), existing);
        return CacheReply.Int(result);
    }

    private CacheReply IncrByFloat(string key, string amount)
    {
        var existing = LookupWrite(key);
        if (existing is not null && existing.Type != CacheValueType.String)
        {
            return WrongTypeReply;
        }

        if (RedisText.IncrementFloat(existing?.AsString, amount, out var error) is not { } text)
        {
            return error == RedisText.NotFloat ? NotFloatReply : CacheReply.Error(error!);
        }

        StoreString(key, text, existing);
        return CacheReply.Bulk(text);
    }

    private CacheReply Append(string key, string suffix)
    {
        var existing = LookupWrite(key);
        if (existing is not null && existing.Type != CacheValueType.String)
        {
            return WrongTypeReply;
        }

        var current = existing?.AsString ?? string.Empty;
        if ((long)current.Length + suffix.Length > Options.MaxValueLength)
        {
            return CacheReply.Error(RedisText.ValueTooLarge);
        }

        var value = current + suffix;
        StoreString(key, value, existing);
        return CacheReply.Int(Encoding.UTF8.GetByteCount(value));
    }

    private CacheReply StrLen(string key)
    {
        var entry = LookupRead(key);
        if (entry is null)
        {
            return CacheReply.Zero;
        }

        return entry.Type == CacheValueType.String ? CacheReply.Int(Encoding.UTF8.GetByteCount(entry.AsString)) : WrongTypeReply;
    }

    private CacheReply MGet(IReadOnlyList<string> a)
    {
        var replies = new CacheReply[a.Count - 1];
        for (var i = 1; i < a.Count; i++)
        {
            var entry = LookupRead(a[i]);
            replies[i - 1] = entry is { Type: CacheValueType.String } ? CacheReply.Bulk(entry.AsString) : CacheReply.Nil;
        }

        return CacheReply.Array(replies);
    }

    private CacheReply MSet(IReadOnlyList<string> a)
    {
        if (a.Count % 2 == 0)
        {
            return CacheReply.Error(RedisText.Arity("mset"));
        }

        for (var i = 1; i < a.Count; i += 2)
        {
            var entry = StoreString(a[i], a[i + 1], LookupWrite(a[i]));
            SetExpiry(entry, -1);
        }

        return CacheReply.Ok;
    }

    private CacheReply Gets(string key)
    {
        var entry = LookupRead(key);
        if (entry is null)
        {
            return CacheReply.NilArray;
        }

        return entry.Type == CacheValueType.String
            ? CacheReply.Array([CacheReply.Bulk(entry.AsString), CacheReply.Int(entry.Version)])
            : WrongTypeReply;
    }

    /// <summary>CAS key value version [EX seconds]: Memcached's check-and-set on the version GETS returned.</summary>
    private CacheReply Cas(IReadOnlyList<string> a)
    {
        if (!RedisText.TryParseInt64(a[3], out var version))
        {
            return NotIntegerReply;
        }

        long expireAt = -1;
        if (a.Count != 4)
        {
            if (a.Count != 6 || !Is(a[4], "EX"))
            {
                return SyntaxReply;
            }

            if (!RedisText.TryParseInt64(a[5], out var seconds))
            {
                return NotIntegerReply;
            }

            if (seconds <= 0 || seconds > (long.MaxValue - _now) / 1000)
            {
                return CacheReply.Error(RedisText.InvalidExpire("cas"));
            }

            expireAt = _now + (seconds * 1000);
        }

        var entry = LookupWrite(a[1]);
        if (entry is null)
        {
            return CacheReply.Status("NOT_FOUND");
        }

        if (entry.Type != CacheValueType.String)
        {
            return WrongTypeReply;
        }

        if (entry.Version != version)
        {
            return CacheReply.Status("EXISTS");
        }

        StoreString(a[1], a[2], entry);
        SetExpiry(entry, expireAt);
        return CacheReply.Status("STORED");
    }

    private CacheReply Del(IReadOnlyList<string> a)
    {
        var removed = 0;
        for (var i = 1; i < a.Count; i++)
        {
            var entry = LookupWrite(a[i]);
            if (entry is not null)
            {
                RemoveEntry(entry);
                removed++;
            }
        }

        return CacheReply.Int(removed);
    }

    private CacheReply Exists(IReadOnlyList<string> a)
    {
        var found = 0;
        for (var i = 1; i < a.Count; i++)
        {
            if (LookupWrite(a[i]) is not null)
            {
                found++;
            }
        }

        return CacheReply.Int(found);
    }

    private CacheReply Expire(IReadOnlyList<string> a, long unitMs)
    {
        var command = unitMs == 1 ? "pexpire" : "expire";
        bool nx = false, xx = false, gt = false, lt = false;
        for (var j = 3; j < a.Count; j++)
        {
            if (Is(a[j], "NX"))
            {
                nx = true;
            }
            else if (Is(a[j], "XX"))
            {
                xx = true;
            }
            else if (Is(a[j], "GT"))
            {
                gt = true;
            }
            else if (Is(a[j], "LT"))
            {
                lt = true;
            }
            else
            {
                return CacheReply.Error($"ERR Unsupported option {a[j]}");
            }
        }

        if (nx && (xx || gt || lt))
        {
            return CacheReply.Error("ERR NX and XX, GT or LT options at the same time are not compatible");
        }

        if (gt && lt)
        {
            return CacheReply.Error("ERR GT and LT options at the same time are not compatible");
        }

        if (!RedisText.TryParseInt64(a[2], out var when))
        {
            return NotIntegerReply;
        }

        if (unitMs == 1000)
        {
            if (when > long.MaxValue / 1000 || when < long.MinValue / 1000)
            {
                return CacheReply.Error(RedisText.InvalidExpire(command));
            }

            when *= 1000;
        }

        if (when > long.MaxValue - _now)
        {
            return CacheReply.Error(RedisText.InvalidExpire(command));
        }

        when += _now;
        var entry = LookupWrite(a[1]);
        if (entry is null)
        {
            return CacheReply.Zero;
        }

        var current = entry.ExpiresAt;
        if ((nx && current != -1) || (xx && current == -1) || (gt && (when <= current || current == -1)) || (lt && current != -1 && when >= current))
        {
            return CacheReply.Zero;
        }

        if (when <= _now)
        {
            RemoveEntry(entry);
            return CacheReply.One;
        }

        SetExpiry(entry, when);
        Written(entry);
        return CacheReply.One;
    }

    private CacheReply Ttl(string key, long unitMs)
    {
        var entry = LookupWrite(key);
        if (entry is null)
        {
            return CacheReply.Int(-2);
        }

        if (entry.ExpiresAt < 0)
        {
            return CacheReply.Int(-1);
        }

        var ms = Math.Max(0, entry.ExpiresAt - _now);
        return CacheReply.Int(unitMs == 1 ? ms : (ms + 500) / 1000);
    }

    private CacheReply Persist(string key)
    {
        var entry = LookupWrite(key);
        if (entry is null || entry.ExpiresAt < 0)
        {
            return CacheReply.Zero;
        }

        SetExpiry(entry, -1);
        Written(entry);
        return CacheReply.One;
    }

    private CacheReply TypeOf(string key) => CacheReply.Status(LookupWrite(key)?.Type switch
    {
        null => "none",
        CacheValueType.String => "string",
        CacheValueType.Hash => "hash",
        CacheValueType.List => "list",
        CacheValueType.Set => "set",
        _ => "zset",
    });

    private CacheReply Flush(IReadOnlyList<string> a)
    {
        if (a.Count > 2 || (a.Count == 2 && !Is(a[1], "ASYNC") && !Is(a[1], "SYNC")))
        {
            return SyntaxReply;
        }

        List<string> removed = KeyRemoved is null ? [] : [.. _entries.Keys];
        _entries.Clear();
        _all.Clear();
        _volatile.Clear();
        _scanIndex?.Clear();
        _used = 0;
        _changes++;
        foreach (var key in removed)
        {
            KeyRemoved?.Invoke(key);
        }

        return CacheReply.Ok;
    }
}
