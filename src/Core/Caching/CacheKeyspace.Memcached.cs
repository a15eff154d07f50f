using System.Globalization;

namespace Granary.Caching;

/// <summary>
/// The Memcached item commands: what the Memcached text protocol endpoint sends, one command per
/// memcached command, so that a value, its client flags and its CAS unique change together in one
/// call on the key's shard. An item is a string entry: its value is the string GET returns over RESP,
/// its flags are kept with the entry (0 after any write that is not a memcached store), and its CAS
/// unique is the entry's version (a new one on every write, as GETS/CAS use it).
/// </summary>
public sealed partial class CacheKeyspace
{
    /// <summary>Memcached's rule for exptime: up to 30 days it is relative seconds, beyond it a Unix time.</summary>
    public const long MemcachedRelativeLimitSeconds = 60L * 60 * 24 * 30;

    /// <summary>The answer to a memcached write that found a value that is not a string (a hash, list, ...).</summary>
    public const string MemcachedWrongType = "SERVER_ERROR " + RedisText.WrongType;

    /// <summary>The answer to incr/decr of a value that is not a decimal number.</summary>
    public const string MemcachedNonNumeric = "CLIENT_ERROR cannot increment or decrement non-numeric value";

    /// <summary>The answer to a store whose value would exceed the cache's value length.</summary>
    public const string MemcachedTooLarge = "SERVER_ERROR object too large for cache";

    private static readonly CacheReply McStored = CacheReply.Status("STORED");
    private static readonly CacheReply McNotStored = CacheReply.Status("NOT_STORED");
    private static readonly CacheReply McExists = CacheReply.Status("EXISTS");
    private static readonly CacheReply McNotFound = CacheReply.Status("NOT_FOUND");
    private static readonly CacheReply McTouched = CacheReply.Status("TOUCHED");

    /// <summary>The memcached module: each command with its arity, flags, key positions and handler.</summary>
    private static CacheCommandModule MemcachedCommands() => new("memcached",
    [
        // MCGET key: [value, flags, cas] or nil (a value that is not a string is a miss).
        new("MCGET", 2, R, 1, 1, 1, static (k, a) => k.McGet(a[1], null)),

        // MCGAT key exptime: MCGET that also sets the expiry (memcached's gat/gats).
        new("MCGAT", 3, D, 1, 1, 1, static (k, a) => k.McGet(a[1], a[2])),

        // MCSTORE key value set|add|replace|append|prepend|cas flags exptime [cas-unique]:
        // STORED, NOT_STORED, EXISTS or NOT_FOUND, as memcached answers.
        new("MCSTORE", -6, W, 1, 1, 1, static (k, a) => k.McStore(a)),

        // MCINCR key incr|decr delta: the new value (64-bit unsigned, incr wraps, decr floors at 0) or NOT_FOUND.
        new("MCINCR", 4, W, 1, 1, 1, static (k, a) => k.McIncr(a[1], a[2], a[3])),

        // MCTOUCH key exptime: TOUCHED or NOT_FOUND.
        new("MCTOUCH", 3, D, 1, 1, 1, static (k, a) => k.McTouch(a[1], a[2])),
    ]);

    /// <summary>
    /// The expiry of memcached's <paramref name="exptime"/> in Unix milliseconds: -1 for none (0), or
    /// <see cref="long.MinValue"/> for "already expired" (negative, or an absolute time not in the future).
    /// </summary>
    private long McExpiry(long exptime)
    {
        if (exptime == 0)
        {
            return -1;
        }

        if (exptime < 0)
        {
            return long.MinValue;
        }

        if (exptime <= MemcachedRelativeLimitSeconds)
        {
            return _now + (exptime * 1000);
        }

        var at = exptime * 1000;
        return at <= _now ? long.MinValue : at;
    }

    private CacheReply McGet(string key, string? exptimeText)
    {
        long expiry = 0;
        if (exptimeText is not null)
        {
            if (!long.TryParse(exptimeText, NumberStyles.AllowLeadingSign, CultureInfo.InvariantCulture, out var exptime) || exptime > int.MaxValue || exptime < int.MinValue)
            {
                return SyntaxReply;
            }

            expiry = McExpiry(exptime);
        }

        var entry = LookupRead(key);
        if (entry is null || entry.Type != CacheValueType.String)
        {
            return CacheReply.NilArray;
        }

        var reply = CacheReply.Array([CacheReply.Bulk(entry.AsString), CacheReply.Int(entry.Flags), CacheReply.Int(entry.Version)]);
        if (exptimeText is not null)
        {
            McSetExpiry(entry, expiry);
        }

        return reply;
    }

    private CacheReply McTouch(string key, string exptimeText)
    {
        if (!long.TryParse(exptimeText, NumberStyles.AllowLeadingSign, CultureInfo.InvariantCulture, out var exptime) || exptime > int.MaxValue || exptime < int.MinValue)
        {
            return SyntaxReply;
        }

        var expiry = McExpiry(exptime);
        var entry = LookupWrite(key);
        if (entry is null)
        {
            return McNotFound;
        }

        McSetExpiry(entry, expiry);
        return McTouched;
    }

    /// <summary>Sets an entry's expiry; "already expired" removes it (memcached would hide it until reclaimed).</summary>
    private void McSetExpiry(CacheEntry entry, long expiry)
    {
        if (expiry == long.MinValue)
        {
            RemoveEntry(entry);
            _expirations++;
            return;
        }

        if (entry.ExpiresAt != expiry)
        {
            SetExpiry(entry, expiry);
        }
    }

    private CacheReply McStore(IReadOnlyList<string> a)
    {
        var key = a[1];
        var value = a[2];
        var mode = a[3].ToLowerInvariant();
        var isCas = mode == "cas";
        if (a.Count != (isCas ? 7 : 6)
            || mode is not ("set" or "add" or "replace" or "append" or "prepend" or "cas")
            || !uint.TryParse(a[4], NumberStyles.None, CultureInfo.InvariantCulture, out var flags)
            || !long.TryParse(a[5], NumberStyles.AllowLeadingSign, CultureInfo.InvariantCulture, out var exptime)
            || exptime > int.MaxValue || exptime < int.MinValue)
        {
            return SyntaxReply;
        }

        ulong unique = 0;
        if (isCas && !ulong.TryParse(a[6], NumberStyles.None, CultureInfo.InvariantCulture, out unique))
        {
            return SyntaxReply;
        }

        var expiry = McExpiry(exptime);
        var entry = LookupWrite(key);
        if (entry is not null && entry.Type != CacheValueType.String && mode != "set")
        {
            return mode == "add" ? McNotStored : CacheReply.Error(MemcachedWrongType);
        }

        switch (mode)
        {
            case "add" when entry is not null:
                // Memcached's add of an existing item bumps it in the LRU: the lookup above did that.
                return McNotStored;
            case "replace" or "append" or "prepend" when entry is null:
                return McNotStored;
            case "cas" when entry is null:
                return McNotFound;
            case "cas" when (ulong)entry.Version != unique:
                return McExists;
            case "append" or "prepend":
                {
                    // Memcached keeps the item's flags and expiry: those of the command are ignored.
                    var old = entry!.AsString;
                    if ((long)old.Length + value.Length > Options.MaxValueLength)
                    {
                        return CacheReply.Error(MemcachedTooLarge);
                    }

                    var flagsBefore = entry.Flags;
                    StoreString(key, mode == "append" ? old + value : value + old, entry);
                    entry.Flags = flagsBefore;
                    return McStored;
                }
        }

        if (expiry == long.MinValue)
        {
            // Stored and expired at once: memcached answers STORED and nobody ever sees the item.
            if (entry is not null)
            {
                RemoveEntry(entry);
            }

            return McStored;
        }

        var stored = StoreString(key, value, entry);
        stored.Flags = flags;
        SetExpiry(stored, expiry);
        return McStored;
    }

    private CacheReply McIncr(string key, string direction, string deltaText)
    {
        var incr = Is(direction, "incr");
        if ((!incr && !Is(direction, "decr")) || !ulong.TryParse(deltaText, NumberStyles.None, CultureInfo.InvariantCulture, out var delta))
        {
            return SyntaxReply;
        }

        var entry = LookupWrite(key);
        if (entry is null)
        {
            return McNotFound;
        }

        if (entry.Type != CacheValueType.String)
        {
            return CacheReply.Error(MemcachedWrongType);
        }

        var old = entry.AsString;
        if (!TryParseMemcachedNumber(old, out var number))
        {
            return CacheReply.Error(MemcachedNonNumeric);
        }

        number = incr ? unchecked(number + delta) : delta > number ? 0 : number - delta;
        var text = number.ToString(CultureInfo.InvariantCulture);

        // Memcached rewrites a number in place when the new one is not longer, padding with spaces.
        var stored = text.Length < old.Length ? text.PadRight(old.Length) : text;
        var flags = entry.Flags;
        StoreString(key, stored, entry);
        entry.Flags = flags;
        return CacheReply.Bulk(text);
    }

    /// <summary>
    /// Memcached's reading of an item as a number (strtoull, then a check of what follows): optional
    /// leading white space and a sign, decimal digits, then the end or white space; an overflow, or a
    /// '-' whose negated value is negative as a signed number, is not a number.
    /// </summary>
    public static bool TryParseMemcachedNumber(string text, out ulong value)
    {
        value = 0;
        var i = 0;
        while (i < text.Length && IsCSpace(text[i]))
        {
            i++;
        }

        var negative = false;
        if (i < text.Length && (text[i] == '+' || text[i] == '-'))
        {
            negative = text[i] == '-';
            i++;
        }

        var start = i;
        while (i < text.Length && text[i] is >= '0' and <= '9')
        {
            var digit = (ulong)(text[i] - '0');
            if (value > (ulong.MaxValue - digit) / 10)
            {
                return false;
            }

            value = (value * 10) + digit;
            i++;
        }

        if (i == start || (i < text.Length && !IsCSpace(text[i])))
        {
            return false;
        }

        if (negative)
        {
            // strtoull negates; memcached refuses the result only when it is negative as a signed number.
            value = unchecked(0UL - value);
            return (long)value >= 0;
        }

        return true;
    }

    private static bool IsCSpace(char c) => c is ' ' or '\t' or '\n' or '\v' or '\f' or '\r';
}
