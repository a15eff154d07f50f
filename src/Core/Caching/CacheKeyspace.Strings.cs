using System.Text;

namespace Granary.Caching;

/// <summary>The string commands (and Memcached-style GETS/CAS).</summary>
public sealed partial class CacheKeyspace
{
    /// <summary>The strings module: each command with its arity, flags, key positions and handler.</summary>
    private static CacheCommandModule StringCommands() => new("strings",
    [
        new("GET", 2, R, 1, 1, 1, static (k, a) => k.Get(a[1])),
        new("SET", -3, W, 1, 1, 1, static (k, a) => k.Set(a)),
        new("GETSET", 3, W, 1, 1, 1, static (k, a) => k.GetSet(a[1], a[2])),
        new("GETDEL", 2, D, 1, 1, 1, static (k, a) => k.GetDel(a[1])),
        new("INCR", 2, W, 1, 1, 1, static (k, a) => k.IncrBy(a[1], 1)),
        new("DECR", 2, W, 1, 1, 1, static (k, a) => k.IncrBy(a[1], -1)),
        new("INCRBY", 3, W, 1, 1, 1, static (k, a) => RedisText.TryParseInt64(a[2], out var by) ? k.IncrBy(a[1], by) : NotIntegerReply),
        new("DECRBY", 3, W, 1, 1, 1, static (k, a) => k.DecrBy(a[1], a[2])),
        new("INCRBYFLOAT", 3, W, 1, 1, 1, static (k, a) => k.IncrByFloat(a[1], a[2])),
        new("APPEND", 3, W, 1, 1, 1, static (k, a) => k.Append(a[1], a[2])),
        new("STRLEN", 2, R, 1, 1, 1, static (k, a) => k.StrLen(a[1])),
        new("MGET", -2, R, 1, -1, 1, static (k, a) => k.MGet(a)),
        new("MSET", -3, W, 1, -1, 2, static (k, a) => k.MSet(a)),
        new("GETS", 2, R, 1, 1, 1, static (k, a) => k.Gets(a[1])),
        new("CAS", -4, W, 1, 1, 1, static (k, a) => k.Cas(a)),
        new("SETNX", 3, W, 1, 1, 1, static (k, a) => k.Set(["SET", a[1], a[2], "NX"], "setnx") switch { { IsError: true } error => error, { IsNil: true } => CacheReply.Zero, _ => CacheReply.One }),
        new("SETEX", 4, W, 1, 1, 1, static (k, a) => k.Set(["SET", a[1], a[3], "EX", a[2]], "setex")),
        new("PSETEX", 4, W, 1, 1, 1, static (k, a) => k.Set(["SET", a[1], a[3], "PX", a[2]], "psetex")),
        new("MSETNX", -3, W | S, 1, -1, 2, static (k, a) => k.MSetNx(a)),
        new("GETEX", -2, D, 1, 1, 1, static (k, a) => k.GetEx(a)),
        new("GETRANGE", 4, R, 1, 1, 1, static (k, a) => k.GetRange(a[1], a[2], a[3])),
        new("SETRANGE", 4, W, 1, 1, 1, static (k, a) => k.SetRange(a[1], a[2], a[3])),
    ]);

    private const long StringOverhead = 24;

    private static long StringSize(string value) => StringOverhead + (2L * value.Length);

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

    private CacheReply Set(IReadOnlyList<string> a, string command = "set")
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
        if (expireText is not null && ExpireAt(unit, expireText, command, out expireAt) is { } invalid)
        {
            return invalid;
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

    /// <summary>
    /// Redis's <c>getExpireMillisecondsOrReply</c>: the absolute expiry in Unix milliseconds of an EX, PX, EXAT or
    /// PXAT (<paramref name="unit"/> 1 to 4) argument, or the error reply (not an integer, not positive, overflow).
    /// </summary>
    private CacheReply? ExpireAt(int unit, string text, string command, out long expireAt)
    {
        expireAt = -1;
        if (!RedisText.TryParseInt64(text, out var amount))
        {
            return NotIntegerReply;
        }

        var seconds = unit is 1 or 3;
        if (amount <= 0 || (seconds && amount > long.MaxValue / 1000))
        {
            return CacheReply.Error(RedisText.InvalidExpire(command));
        }

        var ms = seconds ? amount * 1000 : amount;
        if (unit is 1 or 2)
        {
            if (ms > long.MaxValue - _now)
            {
                return CacheReply.Error(RedisText.InvalidExpire(command));
            }

            ms += _now;
        }

        expireAt = ms;
        return null;
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

        var value = CacheBytes.Concat(current, suffix);
        StoreString(key, value, existing);
        return CacheReply.Int(CacheBytes.ByteCount(value));
    }

    private CacheReply StrLen(string key)
    {
        var entry = LookupRead(key);
        if (entry is null)
        {
            return CacheReply.Zero;
        }

        return entry.Type == CacheValueType.String ? CacheReply.Int(CacheBytes.ByteCount(entry.AsString)) : WrongTypeReply;
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

    private CacheReply MSetNx(IReadOnlyList<string> a)
    {
        if (a.Count % 2 == 0)
        {
            return CacheReply.Error(RedisText.Arity("msetnx"));
        }

        for (var i = 1; i < a.Count; i += 2)
        {
            if (LookupWrite(a[i]) is not null)
            {
                return CacheReply.Zero;
            }
        }

        MSet(a);
        return CacheReply.One;
    }

    /// <summary>GETEX key [EX s | PX ms | EXAT s | PXAT ms | PERSIST]: GET that also sets or clears the TTL.</summary>
    private CacheReply GetEx(IReadOnlyList<string> a)
    {
        var unit = 0;
        var persist = false;
        string? expireText = null;
        for (var j = 2; j < a.Count; j++)
        {
            if (unit == 0 && !persist && j + 1 < a.Count && TimeUnitOf(a[j]) is var u and > 0)
            {
                unit = u;
                expireText = a[++j];
            }
            else if (unit == 0 && !persist && Is(a[j], "PERSIST"))
            {
                persist = true;
            }
            else
            {
                return SyntaxReply;
            }
        }

        var entry = LookupRead(a[1]);
        if (entry is null)
        {
            return CacheReply.Nil;
        }

        if (entry.Type != CacheValueType.String)
        {
            return WrongTypeReply;
        }

        long expireAt = -1;
        if (expireText is not null && ExpireAt(unit, expireText, "getex", out expireAt) is { } invalid)
        {
            return invalid;
        }

        var value = CacheReply.Bulk(entry.AsString);
        if (expireText is not null && expireAt <= _now)
        {
            RemoveEntry(entry);
        }
        else if (expireText is not null)
        {
            SetExpiry(entry, expireAt);
            Written(entry);
        }
        else if (persist && entry.ExpiresAt >= 0)
        {
            SetExpiry(entry, -1);
            Written(entry);
        }

        return value;
    }

    /// <summary>GETRANGE key start end: the bytes from start to end inclusive (negative from the end), as Redis clamps them.</summary>
    private CacheReply GetRange(string key, string startText, string endText)
    {
        if (!RedisText.TryParseInt64(startText, out var start) || !RedisText.TryParseInt64(endText, out var end))
        {
            return NotIntegerReply;
        }

        var entry = LookupRead(key);
        if (entry is null)
        {
            return CacheReply.Bulk(string.Empty);
        }

        if (entry.Type != CacheValueType.String)
        {
            return WrongTypeReply;
        }

        var bytes = CacheBytes.GetBytes(entry.AsString);
        long length = bytes.Length;
        if (start < 0 && end < 0 && start > end)
        {
            return CacheReply.Bulk(string.Empty);
        }

        start = start < 0 ? Math.Max(0, length + start) : start;
        end = end < 0 ? Math.Max(0, length + end) : end;
        end = Math.Min(end, length - 1);
        if (start > end || length == 0)
        {
            return CacheReply.Bulk(string.Empty);
        }

        return CacheReply.Bulk(CacheBytes.FromBytes(bytes.AsSpan((int)start, (int)(end - start + 1))));
    }

    /// <summary>
    /// SETRANGE key offset value: overwrites bytes from offset, padding with zero bytes past the end as Redis does,
    /// bounded by the longest value. Bytes that are not UTF-8 text are stored escaped (<see cref="CacheBytes"/>).
    /// </summary>
    private CacheReply SetRange(string key, string offsetText, string value)
    {
        if (!RedisText.TryParseInt64(offsetText, out var offset))
        {
            return NotIntegerReply;
        }

        if (offset < 0)
        {
            return CacheReply.Error(RedisText.OffsetOutOfRange);
        }

        var entry = LookupWrite(key);
        if (entry is not null && entry.Type != CacheValueType.String)
        {
            return WrongTypeReply;
        }

        var current = entry is null ? [] : CacheBytes.GetBytes(entry.AsString);
        if (value.Length == 0)
        {
            return CacheReply.Int(current.Length);
        }

        var patch = CacheBytes.GetBytes(value);
        if (offset > Options.MaxValueLength || offset + patch.Length > Options.MaxValueLength)
        {
            return CacheReply.Error(RedisText.ValueTooLarge);
        }

        var result = new byte[Math.Max(current.Length, (int)offset + patch.Length)];
        current.CopyTo(result, 0);
        patch.CopyTo(result, (int)offset);
        var text = CacheBytes.FromBytes(result);
        if (text.Length > Options.MaxValueLength)
        {
            return CacheReply.Error(RedisText.ValueTooLarge);
        }

        StoreString(key, text, entry);
        return CacheReply.Int(result.Length);
    }
}
