namespace Granary.Caching;

/// <summary>Commands on keys of any type: DEL, EXISTS, TTLs, TYPE, and SCAN/KEYS (in the SCAN part).</summary>
public sealed partial class CacheKeyspace
{
    /// <summary>The keys module: each command with its arity, flags, key positions and handler.</summary>
    private static CacheCommandModule KeyCommands() => new("keys",
    [
        new("DEL", -2, D, 1, -1, 1, static (k, a) => k.Del(a)),
        new("UNLINK", -2, D, 1, -1, 1, static (k, a) => k.Del(a)),
        new("EXISTS", -2, R, 1, -1, 1, static (k, a) => k.Exists(a)),
        new("EXPIRE", -3, D, 1, 1, 1, static (k, a) => k.Expire(a, 1000)),
        new("PEXPIRE", -3, D, 1, 1, 1, static (k, a) => k.Expire(a, 1)),
        new("EXPIREAT", -3, D, 1, 1, 1, static (k, a) => k.Expire(a, 1000, absolute: true)),
        new("PEXPIREAT", -3, D, 1, 1, 1, static (k, a) => k.Expire(a, 1, absolute: true)),
        new("EXPIRETIME", 2, R, 1, 1, 1, static (k, a) => k.ExpireTime(a[1], 1000)),
        new("PEXPIRETIME", 2, R, 1, 1, 1, static (k, a) => k.ExpireTime(a[1], 1)),
        new("RENAME", 3, D | S, 1, 2, 1, static (k, a) => k.Rename(a[1], a[2], onlyIfAbsent: false)),
        new("RENAMENX", 3, D | S, 1, 2, 1, static (k, a) => k.Rename(a[1], a[2], onlyIfAbsent: true)),
        new("COPY", -3, W | S, 1, 2, 1, static (k, a) => k.Copy(a)),
        new("OBJECT", -3, R, 2, 2, 1, static (k, a) => k.Object(a)),
        new("TTL", 2, R, 1, 1, 1, static (k, a) => k.Ttl(a[1], 1000)),
        new("PTTL", 2, R, 1, 1, 1, static (k, a) => k.Ttl(a[1], 1)),
        new("PERSIST", 2, D, 1, 1, 1, static (k, a) => k.Persist(a[1])),
        new("TYPE", 2, R, 1, 1, 1, static (k, a) => k.TypeOf(a[1])),
        new("SCAN", -2, R | All, 0, 0, 0, static (k, a) => k.Scan(a)),
        new("KEYS", 2, R | All, 0, 0, 0, static (k, a) => k.Keys(a[1])),
    ]);

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

    private CacheReply Expire(IReadOnlyList<string> a, long unitMs, bool absolute = false)
    {
        var command = (unitMs == 1 ? "pexpire" : "expire") + (absolute ? "at" : string.Empty);
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

        var basetime = absolute ? 0 : _now;
        if (when > long.MaxValue - basetime)
        {
            return CacheReply.Error(RedisText.InvalidExpire(command));
        }

        when += basetime;
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
}
