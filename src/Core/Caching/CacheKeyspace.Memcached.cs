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
    private static readonly CacheReply McDeleted = CacheReply.Status("DELETED");

    /// <summary>A client was told it won the right to recache the item (memcached's W, then Z for the others).</summary>
    private const byte TokenSent = 1;

    /// <summary>The item was marked stale by md or ms with I (memcached's X).</summary>
    private const byte Stale = 2;

    /// <summary>The item was fetched since it was written (memcached's h).</summary>
    private const byte Fetched = 4;

    /// <summary>The item was stored by ms with a base64 key (flag b): mg and me give its key in base64.</summary>
    private const byte BinaryKey = 8;

    /// <summary>The memcached module: each command with its arity, flags, key positions and handler.</summary>
    private static CacheCommandModule MemcachedCommands() => new("memcached",
    [
        // MCGET key: [value, flags, cas, ttl seconds or -1] or nil (a value that is not a string is a miss).
        new("MCGET", 2, R, 1, 1, 1, static (k, a) => k.McGet(a[1], null)),

        // MCGAT key exptime: MCGET that also sets the expiry (memcached's gat/gats); the ttl is the one before.
        new("MCGAT", 3, D, 1, 1, 1, static (k, a) => k.McGet(a[1], a[2])),

        // MCSTORE key value set|add|replace|append|prepend|cas flags exptime [cas-unique]:
        // STORED, NOT_STORED, EXISTS or NOT_FOUND, as memcached answers.
        new("MCSTORE", -6, W, 1, 1, 1, static (k, a) => k.McStore(a)),

        // MCINCR key incr|decr delta: the new value (64-bit unsigned, incr wraps, decr floors at 0) or NOT_FOUND.
        new("MCINCR", 4, W, 1, 1, 1, static (k, a) => k.McIncr(a[1], a[2], a[3])),

        // MCMETAGET key exptime|- vivify|- recache|- order [U|E]: mg with its T, N and R tokens applied in the order
        // given (the letters T, N, R as sent), U for no LRU bump, E for neither a bump nor a recache token (me):
        // [value, flags, cas, ttl before, marks (Z, X, W), 1 when vivified, 1 when fetched before, seconds since the
        // last access, 1 when stored with a base64 key] or nil.
        new("MCMETAGET", -6, D, 1, 1, 1, static (k, a) => k.McMetaGet(a)),

        // MCMETASTORE key value set|add|replace|append|prepend flags exptime cas|- [I|B|IB]: [status, cas of the stored
        // item or 0] (ms; I stores a set with an older cas as a stale item, B records that the key came in base64).
        new("MCMETASTORE", -7, W, 1, 1, 1, static (k, a) => k.McMetaStore(a)),

        // MCDELETE key cas|- [I exptime|-]: DELETED, NOT_FOUND or EXISTS (md; I marks the item stale instead).
        new("MCDELETE", -3, D, 1, 1, 1, static (k, a) => k.McDelete(a)),

        // MCARITH key incr|decr delta vivify-exptime|- initial [cas|- exptime|- order]: [value, cas, ttl before the T
        // and N exptimes, created], NOT_FOUND or EXISTS (ma; T and N apply in the order given, the letters as sent).
        new("MCARITH", -6, W, 1, 1, 1, static (k, a) => k.McArith(a)),

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

        var reply = CacheReply.Array([CacheReply.Bulk(entry.AsString), CacheReply.Int(entry.Flags), CacheReply.Int(entry.Version), CacheReply.Int(McTtl(entry))]);
        McFetched(entry);
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

        McFetched(entry);
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
        var mode = a[3].ToLowerInvariant();
        var isCas = mode == "cas";
        if (a.Count != (isCas ? 7 : 6)
            || mode is not ("set" or "add" or "replace" or "append" or "prepend" or "cas")
            || !uint.TryParse(a[4], NumberStyles.None, CultureInfo.InvariantCulture, out var flags)
            || !TryParseExptime(a[5], out var exptime))
        {
            return SyntaxReply;
        }

        ulong unique = 0;
        if (isCas && !ulong.TryParse(a[6], NumberStyles.None, CultureInfo.InvariantCulture, out unique))
        {
            return SyntaxReply;
        }

        return McStoreItem(a[1], a[2], isCas ? "set" : mode, flags, exptime, isCas ? unique : null, out _);
    }

    /// <summary>
    /// memcached's <c>ms</c>: MCSTORE's modes but <c>cas</c>, with an optional CAS unique to
    /// compare (<c>-</c> for none; honoured by set, append and prepend, as memcached does). Replies
    /// [status, CAS unique of the stored item or 0].
    /// </summary>
    private CacheReply McMetaStore(IReadOnlyList<string> a)
    {
        var mode = a[3].ToLowerInvariant();
        ulong unique = 0;
        if (mode is not ("set" or "add" or "replace" or "append" or "prepend")
            || !uint.TryParse(a[4], NumberStyles.None, CultureInfo.InvariantCulture, out var flags)
            || !TryParseExptime(a[5], out var exptime)
            || (a[6] != "-" && !ulong.TryParse(a[6], NumberStyles.None, CultureInfo.InvariantCulture, out unique))
            || a.Count > 8 || (a.Count == 8 && (a[7].Length == 0 || a[7].Any(c => c is not ('I' or 'B')))))
        {
            return SyntaxReply;
        }

        var options = a.Count == 8 ? a[7] : string.Empty;
        var status = McStoreItem(a[1], a[2], mode, flags, exptime, a[6] == "-" ? null : unique, out var stored, invalidate: options.Contains('I', StringComparison.Ordinal));
        if (stored is not null && mode is not ("append" or "prepend") && options.Contains('B', StringComparison.Ordinal))
        {
            // As memcached: an item stored whole keeps that its key was sent in base64; appending makes a new item.
            stored.Marks |= BinaryKey;
        }

        return status.IsError ? status : CacheReply.Array([status, CacheReply.Int(stored?.Version ?? 0)]);
    }

    private static bool TryParseExptime(string text, out long exptime) =>
        long.TryParse(text, NumberStyles.AllowLeadingSign, CultureInfo.InvariantCulture, out exptime) && exptime <= int.MaxValue && exptime >= int.MinValue;

    /// <summary>
    /// A memcached store: <paramref name="unique"/>, when given, must be the item's CAS unique (set: NOT_FOUND when
    /// there is no item; append/prepend: EXISTS on a mismatch). <paramref name="stored"/> is the item written, if any.
    /// </summary>
    private CacheReply McStoreItem(string key, string value, string mode, uint flags, long exptime, ulong? unique, out CacheEntry? stored, bool invalidate = false)
    {
        stored = null;
        var expiry = McExpiry(exptime);
        var entry = LookupWrite(key);
        if (entry is not null && entry.Type != CacheValueType.String && !(mode == "set" && unique is null))
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
            case "set" when unique is not null && entry is null:
                return McNotFound;
            case "set" when invalidate && unique is { } older && older != 0 && older < (ulong)entry!.Version:
                {
                    // memcached's set-to-invalid: the value of an older write is stored, marked stale, keeping the
                    // item's TTL and whether a client was told to recache it.
                    var marks = (byte)(Stale | (entry.Marks & TokenSent));
                    stored = StoreString(key, value, entry);
                    stored.Flags = flags;
                    stored.Marks = marks;
                    return McStored;
                }
            case "set" or "append" or "prepend" when unique is { } expected && (ulong)entry!.Version != expected:
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
                    stored = StoreString(key, mode == "append" ? CacheBytes.Concat(old, value) : CacheBytes.Concat(value, old), entry);
                    stored.Flags = flagsBefore;
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

        stored = StoreString(key, value, entry);
        stored.Flags = flags;
        SetExpiry(stored, expiry);
        return McStored;
    }

    /// <summary>
    /// memcached's <c>md</c>: DELETED, NOT_FOUND, or EXISTS when a CAS unique (<c>-</c> for none) does not match. With
    /// I the item is kept and marked stale instead, with a new CAS unique and, when given, a new exptime.
    /// </summary>
    private CacheReply McDelete(IReadOnlyList<string> a)
    {
        ulong unique = 0;
        long exptime = 0;
        var invalidate = a.Count == 5 && a[3] == "I";
        if (a.Count is not (3 or 5) || (a.Count == 5 && !invalidate)
            || (a[2] != "-" && !ulong.TryParse(a[2], NumberStyles.None, CultureInfo.InvariantCulture, out unique))
            || (invalidate && a[4] != "-" && !TryParseExptime(a[4], out exptime)))
        {
            return SyntaxReply;
        }

        var entry = LookupWrite(a[1]);
        if (entry is null)
        {
            return McNotFound;
        }

        if (a[2] != "-" && (ulong)entry.Version != unique)
        {
            return McExists;
        }

        if (!invalidate)
        {
            RemoveEntry(entry);
            return McDeleted;
        }

        // The same item, marked: its flags, access time, fetched and base64-key marks stay, a client may win the recache again.
        var (flags, kept, accessed) = (entry.Flags, entry.Marks & (Fetched | BinaryKey), entry.AccessedAt);
        Written(entry);
        (entry.Flags, entry.Marks, entry.AccessedAt) = (flags, (byte)(Stale | kept), accessed);
        if (a[4] != "-")
        {
            McSetExpiry(entry, McExpiry(exptime));
        }

        return McDeleted;
    }

    /// <summary>
    /// memcached's <c>mg</c>: the item with its TTL before T and N, and the marks memcached adds: Z when another client
    /// was told to recache, X when stale, W when this client wins (a vivified miss, an R token above the TTL left,
    /// or the first read of a stale item). N on a miss creates an empty item.
    /// </summary>
    private CacheReply McMetaGet(IReadOnlyList<string> a)
    {
        long ttl = 0, vivify = 0, recache = 0;
        if ((a[2] != "-" && !TryParseExptime(a[2], out ttl))
            || (a[3] != "-" && !TryParseExptime(a[3], out vivify))
            || (a[4] != "-" && !TryParseExptime(a[4], out recache))
            || a[5].Any(c => c is not ('T' or 'N' or 'R'))
            || a.Count > 7 || (a.Count == 7 && a[6] is not ("U" or "E")))
        {
            return SyntaxReply;
        }

        var key = a[1];
        var bump = a.Count == 6;
        var examine = a.Count == 7 && a[6] == "E";
        var entry = bump ? LookupRead(key) : LookupUnbumped(key);
        if (entry is not null && entry.Type != CacheValueType.String)
        {
            return CacheReply.NilArray;
        }

        var created = false;
        if (entry is null)
        {
            if (a[3] == "-")
            {
                return CacheReply.NilArray;
            }

            if (!FreeMemoryIfNeeded())
            {
                // A read never fails for memory; creating the placeholder is a write, held to the bound like one.
                _oomRejections++;
                return CacheReply.Error(RedisText.OutOfMemory);
            }

            entry = StoreString(key, string.Empty, null);
            created = true;
        }

        var reply = new[]
        {
            CacheReply.Bulk(entry.AsString), CacheReply.Int(entry.Flags), CacheReply.Int(entry.Version), CacheReply.Int(created ? -1 : McTtl(entry)),
        };
        var history = new[] { CacheReply.Int((entry.Marks & Fetched) != 0 ? 1 : 0), CacheReply.Int(Math.Max(0, (_now / 1000) - entry.AccessedAt)), CacheReply.Int((entry.Marks & BinaryKey) != 0 ? 1 : 0) };
        var win = false;
        foreach (var step in a[5])
        {
            switch (step)
            {
                case 'T' when a[2] != "-":
                    McSetExpiry(entry, McExpiry(ttl));
                    break;
                case 'N' when created:
                    McSetExpiry(entry, McExpiry(vivify));
                    win = true;
                    break;
                case 'R' when a[4] != "-" && (entry.Marks & TokenSent) == 0 && !created && entry.ExpiresAt >= 0:
                    // In whole seconds, as memcached's clock compares them: a TTL of 100 is not below R100.
                    var until = McExpiry(recache);
                    win |= until >= 0 && McTtl(entry) < (until - _now + 999) / 1000;
                    break;
            }
        }

        var marks = string.Empty;
        if ((entry.Marks & TokenSent) != 0)
        {
            marks += "Z";
        }

        if ((entry.Marks & Stale) != 0)
        {
            marks += "X";
            win |= (entry.Marks & TokenSent) == 0;
        }

        if (win && !examine)
        {
            marks += "W";
            entry.Marks |= TokenSent;
        }

        if (bump)
        {
            McFetched(entry);
        }

        return CacheReply.Array([.. reply, CacheReply.Status(marks), CacheReply.Int(created ? 1 : 0), .. history]);
    }

    /// <summary>memcached's bump on a fetch: the first marks the item fetched, later ones refresh its last access.</summary>
    private void McFetched(CacheEntry entry)
    {
        if ((entry.Marks & Fetched) != 0)
        {
            entry.AccessedAt = (uint)(_now / 1000);
        }

        entry.Marks |= Fetched;
    }

    /// <summary>A read that leaves the item's place in the eviction order and its access marks alone (memcached's u).</summary>
    private CacheEntry? LookupUnbumped(string key)
    {
        if (_entries.TryGetValue(key, out var entry) && IsExpired(entry))
        {
            RemoveEntry(entry);
            _expirations++;
            entry = null;
        }

        _ = entry is null ? _misses++ : _hits++;
        return entry;
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

        return McApplyDelta(key, entry, incr, delta);
    }

    /// <summary>
    /// memcached's <c>ma</c>: MCINCR compared with a CAS unique when one is given (0 compares nothing), and on a miss
    /// with a vivify exptime (<c>-</c> for none) the item is created with the initial value (the delta is not applied
    /// to it, and no unique is compared). Then the T exptime, and N's when the item was made, apply in the order sent.
    /// Replies [value, CAS unique, TTL before T and N, 1 when created], NOT_FOUND or EXISTS.
    /// </summary>
    private CacheReply McArith(IReadOnlyList<string> a)
    {
        var incr = Is(a[2], "incr");
        long vivify = 0;
        ulong unique = 0;
        long exptime = 0;
        if ((!incr && !Is(a[2], "decr"))
            || a.Count is not (6 or 9)
            || !ulong.TryParse(a[3], NumberStyles.None, CultureInfo.InvariantCulture, out var delta)
            || (a[4] != "-" && !TryParseExptime(a[4], out vivify))
            || !ulong.TryParse(a[5], NumberStyles.None, CultureInfo.InvariantCulture, out var initial)
            || (a.Count == 9 && a[6] != "-" && !ulong.TryParse(a[6], NumberStyles.None, CultureInfo.InvariantCulture, out unique))
            || (a.Count == 9 && a[7] != "-" && !TryParseExptime(a[7], out exptime))
            || (a.Count == 9 && a[8].Any(c => c is not ('T' or 'N'))))
        {
            return SyntaxReply;
        }

        var order = a.Count == 9 ? a[8] : "N";
        var retime = a.Count == 9 && a[7] != "-";
        var key = a[1];
        var entry = LookupWrite(key);
        var created = entry is null;
        CacheReply value;
        long before;
        if (entry is null)
        {
            if (a[4] == "-")
            {
                return McNotFound;
            }

            var expiry = -1L;
            foreach (var letter in order)
            {
                expiry = letter switch
                {
                    'N' => McExpiry(vivify),
                    'T' when retime => McExpiry(exptime),
                    _ => expiry,
                };
            }

            var text = initial.ToString(CultureInfo.InvariantCulture);
            if (expiry == long.MinValue)
            {
                return CacheReply.Array([CacheReply.Bulk(text), CacheReply.Int(0), CacheReply.Int(-1), CacheReply.Int(1)]);
            }

            entry = StoreString(key, text, null);
            entry.Flags = 0;
            SetExpiry(entry, expiry);
            value = CacheReply.Bulk(text);
            before = -1;
        }
        else
        {
            value = McApplyDelta(key, entry, incr, delta, unique);
            if (value.IsError || value.Kind == CacheReplyKind.Status)
            {
                return value;
            }

            before = McTtl(entry);
            if (retime)
            {
                McSetExpiry(entry, McExpiry(exptime));
            }
        }

        return CacheReply.Array([value, CacheReply.Int(entry.Version), CacheReply.Int(before), CacheReply.Int(created ? 1 : 0)]);
    }

    /// <summary>An item's remaining time to live in whole seconds, rounded up as memcached's clock counts it; -1 for none.</summary>
    private long McTtl(CacheEntry entry) => entry.ExpiresAt < 0 ? -1 : (entry.ExpiresAt - _now + 999) / 1000;

    /// <summary>incr or decr on <paramref name="entry"/>; a nonzero <paramref name="unique"/> must be its CAS unique (EXISTS otherwise).</summary>
    private CacheReply McApplyDelta(string key, CacheEntry entry, bool incr, ulong delta, ulong unique = 0)
    {
        if (entry.Type != CacheValueType.String)
        {
            return CacheReply.Error(MemcachedWrongType);
        }

        var old = entry.AsString;

        // memcached's order: an empty item is not a number before the unique is compared, text after.
        if (old.Length > 0 && unique != 0 && (ulong)entry.Version != unique)
        {
            return McExists;
        }

        if (!TryParseMemcachedNumber(old, out var number))
        {
            return CacheReply.Error(MemcachedNonNumeric);
        }

        number = incr ? unchecked(number + delta) : delta > number ? 0 : number - delta;
        var text = number.ToString(CultureInfo.InvariantCulture);

        // Memcached rewrites a number in place when the new one is not longer, padding with spaces.
        // A number that fits stays the same item, with its stale and recache marks; a longer one is a new item.
        var stored = text.Length < old.Length ? text.PadRight(old.Length) : text;
        var flags = entry.Flags;
        var marks = text.Length <= old.Length ? entry.Marks : (byte)0;
        StoreString(key, stored, entry);
        entry.Flags = flags;
        entry.Marks = marks;
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
