using System.Globalization;
using Granary.Caching;

namespace Granary.Server.Memcached;

/// <summary>
/// The meta commands of the Memcached text protocol (<c>mg</c>, <c>ms</c>, <c>md</c>, <c>ma</c>, <c>me</c>): flags are
/// checked as memcached 1.6 checks them (one character each, optionally followed by a token; a repeated or
/// unknown flag, or a bad token, is an error and changes nothing), and each command becomes one engine
/// command on the key's shard. A key sent in base64 (flag b) is decoded first and names the same item as the same
/// bytes sent as a plain key (<see cref="MemcachedParser.KeyText"/>). Flags a command does not use are accepted and ignored, as memcached does.
/// </summary>
internal static class MetaParser
{
    /// <summary>memcached's bound on a meta command's tokens (command, key, flags and its end marker).</summary>
    internal const int MaxTokens = 20;

    /// <summary>The longest O token memcached echoes, its 'O' included.</summary>
    private const int MaxOpaque = 32;

    /// <summary>Every flag memcached 1.6's meta commands know.</summary>
    private const string Known = "bNTRlOPLkstcfvhuqFCMJDI";

    private const string BadToken = "CLIENT_ERROR bad token in command line format";
    private const string FlagError = "CLIENT_ERROR invalid or duplicate flag";

    /// <summary>mg, md and ma.</summary>
    public static MemcachedStep Parse(string[] words, List<string[]> commands)
    {
        var meta = words[0][1];
        if (words[1].Length > MemcachedOptions.MaxKeyBytes)
        {
            return MemcachedParser.Line(MemcachedParser.BadFormat);
        }

        if (words.Length + 1 > MaxTokens)
        {
            return MemcachedParser.Line(meta == 'g' ? "CLIENT_ERROR options flags are too long" : "CLIENT_ERROR options flags too long");
        }

        var flags = words[2..];
        if (Check(flags, words[1], out var binaryKey) is { } error)
        {
            return MemcachedParser.Line(meta == 'g' ? error : FlagError);
        }

        var echoKey = EchoKey(words[1], binaryKey);

        var incr = true;
        if (meta == 'a' && Token(flags, 'M') is { } mode)
        {
            if (mode is not ("I" or "+" or "D" or "-"))
            {
                return MemcachedParser.Line("CLIENT_ERROR invalid mode for ma M token");
            }

            incr = mode is "I" or "+";
        }

        if (OpaqueTooLong(flags))
        {
            return MemcachedParser.Line("CLIENT_ERROR opaque token too long");
        }

        var noReply = Has(flags, 'q');
        var key = MemcachedParser.KeyText(binaryKey ?? words[1]);
        var vivify = Token(flags, 'N');

        var ttl = Token(flags, 'T');
        commands.Add(meta switch
        {
            'g' when Has(flags, 'u') => [.. MetaGet(key, ttl, vivify, flags), "U"],
            'g' => MetaGet(key, ttl, vivify, flags),
            'd' when Has(flags, 'I') => ["MCDELETE", key, Token(flags, 'C') ?? "-", "I", ttl ?? "-"],
            'd' => ["MCDELETE", key, Token(flags, 'C') ?? "-"],
            _ => ["MCARITH", key, incr ? "incr" : "decr", Number(Token(flags, 'D')) ?? "1", vivify ?? "-", Number(Token(flags, 'J')) ?? "0", Number(Token(flags, 'C')) ?? "-", ttl ?? "-", Order(flags, "TN")],
        });
        return new MemcachedStep
        {
            Kind = MemcachedStepKind.Meta,
            Meta = meta,
            MetaFlags = flags,
            Keys = [echoKey, binaryKey ?? words[1]],
            First = commands.Count - 1,
            Count = 1,
            NoReply = noReply,
        };
    }

    /// <summary>
    /// me (meta debug): <c>me key [b]</c> reads the item without touching it and answers memcached's
    /// <c>ME key exp= la= cas= fetch= cls= size=</c>, or EN.
    /// </summary>
    public static MemcachedStep Debug(string[] words, List<string[]> commands)
    {
        if (words.Length < 2 || words[1].Length > MemcachedOptions.MaxKeyBytes)
        {
            return MemcachedParser.Line(MemcachedParser.BadFormat);
        }

        var bytes = words[1];
        if (words.Length > 2 && words[2] == "b")
        {
            if (DecodeKey(words[1]) is not { } decoded)
            {
                return MemcachedParser.Line(MemcachedParser.BadFormat);
            }

            bytes = decoded;
        }

        commands.Add(["MCMETAGET", MemcachedParser.KeyText(bytes), "-", "-", "-", string.Empty, "E"]);
        return new MemcachedStep { Kind = MemcachedStepKind.Meta, Meta = 'e', MetaFlags = [], Keys = [bytes, bytes], First = commands.Count - 1, Count = 1 };
    }

    /// <summary>
    /// The slab class and size memcached 1.6 with its default slab settings gives an item: its header (48 bytes and 8 for
    /// the CAS unique), the key and a NUL, the value and its \r\n, 4 bytes of client flags when they are not 0. Items past
    /// the largest class (512 KiB), which memcached stores in chunks, are in that class too, as memcached reports them.
    /// </summary>
    public static (int Class, long Size) SlabOf(int keyBytes, int valueBytes, bool hasFlags)
    {
        var size = 48L + 8 + keyBytes + 1 + valueBytes + 2 + (hasFlags ? 4 : 0);
        var index = Array.FindIndex(SlabSizes, s => s >= size);
        return (index < 0 ? SlabSizes.Length : index + 1, size);
    }

    /// <summary>memcached's default chunk sizes: 96 bytes, each class 1.25 times the last, 8-byte aligned, the last 512 KiB.</summary>
    private static readonly int[] SlabSizes = MakeSlabSizes();

    private static int[] MakeSlabSizes()
    {
        const int largest = 512 * 1024;
        var sizes = new List<int>();
        var size = 96u;
        while (size < largest / 1.25)
        {
            size += (8 - (size % 8)) % 8;
            sizes.Add((int)size);
            size = (uint)(size * 1.25);
        }

        sizes.Add(largest);
        return [.. sizes];
    }

    private static string[] MetaGet(string key, string? ttl, string? vivify, string[] flags) =>
        ["MCMETAGET", key, ttl ?? "-", vivify ?? "-", Token(flags, 'R') ?? "-", Order(flags, "TNR")];

    /// <summary>The letters of <paramref name="letters"/> among the flags, in the order they were sent.</summary>
    private static string Order(string[] flags, string letters) => string.Concat(flags.Select(f => f[0]).Where(f => letters.Contains(f, StringComparison.Ordinal)));

    /// <summary>
    /// mg's t at its place among the flags: the TTL the last T (or N, when the item was just made) before it gave, else
    /// <paramref name="before"/>.
    /// </summary>
    public static long TtlAt(string[] flags, long before, bool vivified)
    {
        var ttl = before;
        foreach (var flag in flags)
        {
            if (flag[0] == 't')
            {
                return ttl;
            }

            if (flag[0] == 'T' || (flag[0] == 'N' && vivified))
            {
                ttl = TtlOf(int.Parse(flag[1..], NumberStyles.AllowLeadingSign, CultureInfo.InvariantCulture));
            }
        }

        return ttl;
    }

    /// <summary>
    /// ms's flags (the data block is read by the caller): the error to answer after dropping the data, or the
    /// store's mode (set, add, replace, append, prepend), client flags, exptime and CAS unique to compare.
    /// </summary>
    public static string[] Store(string[] words, out string? error, out string key, out string echoKey, out string mode, out uint clientFlags, out int exptime, out ulong? unique, out bool invalidate)
    {
        var flags = words[3..];
        mode = "set";
        clientFlags = 0;
        exptime = 0;
        unique = null;
        invalidate = false;
        error = Check(flags, words[1], out var binaryKey);
        key = binaryKey ?? words[1];
        echoKey = EchoKey(words[1], binaryKey);
        if (error is not null)
        {
            return flags;
        }

        if (Token(flags, 'M') is { } m)
        {
            switch (m)
            {
                case "E": mode = "add"; break;
                case "A": mode = "append"; break;
                case "P": mode = "prepend"; break;
                case "R": mode = "replace"; break;
                case "S": mode = "set"; break;
                default:
                    error = "CLIENT_ERROR invalid mode for ms M token";
                    return flags;
            }
        }

        if (OpaqueTooLong(flags))
        {
            error = "CLIENT_ERROR opaque token too long";
            return flags;
        }

        if (Token(flags, 'F') is { } f)
        {
            _ = CacheKeyspace.TryParseMemcachedNumber(f, out var parsed);
            clientFlags = (uint)parsed;
        }

        if (Token(flags, 'T') is { } t)
        {
            exptime = int.Parse(t, NumberStyles.AllowLeadingSign, CultureInfo.InvariantCulture);
        }

        if (Token(flags, 'C') is { } c && mode != "add")
        {
            // Add ignores a CAS unique, as memcached's add does.
            unique = ulong.Parse(Number(c)!, CultureInfo.InvariantCulture);

            // Replace with a CAS unique is memcached's cas: NF when the item is missing; I applies to that cas only.
            mode = mode == "replace" ? "set" : mode;
            invalidate = mode == "set" && Has(flags, 'I');
            unique = unique == 0 && mode != "set" ? null : unique;
        }

        return flags;
    }

    /// <summary>The return flags of a reply, in the order they were asked for: O and k always, the others from <paramref name="value"/>.</summary>
    public static string Echo(string[] flags, string key, Func<char, string?>? value = null)
    {
        var text = string.Empty;
        foreach (var flag in flags)
        {
            text += flag[0] switch
            {
                'O' => " " + flag,
                'k' => " k" + key,
                _ when value?.Invoke(flag[0]) is { } v => " " + flag[0] + v,
                _ => string.Empty,
            };
        }

        return text;
    }

    /// <summary>True when <paramref name="flag"/> was sent.</summary>
    public static bool Has(string[] flags, char flag) => IndexOf(flags, flag) >= 0;

    /// <summary>The position of <paramref name="flag"/> among the flags, or -1.</summary>
    public static int IndexOf(string[] flags, char flag) => Array.FindIndex(flags, f => f[0] == flag);

    /// <summary>memcached's preparse: the first repeated or unknown flag ends the check; a bad token is reported unless one of those follows (md and ma answer every one of these with one text of their own).</summary>
    private static string? Check(string[] flags, string key, out string? binaryKey)
    {
        Span<bool> seen = stackalloc bool[128];
        string? tokenError = null;
        binaryKey = null;
        foreach (var flag in flags)
        {
            var o = flag[0];
            if (o >= 127 || seen[o])
            {
                return "CLIENT_ERROR duplicate flag";
            }

            seen[o] = true;
            if (!Known.Contains(o, StringComparison.Ordinal))
            {
                return "CLIENT_ERROR invalid flag";
            }

            var token = flag[1..];
            if (o == 'b')
            {
                binaryKey = DecodeKey(key);
                tokenError = binaryKey is null ? "CLIENT_ERROR error decoding key" : tokenError;
                continue;
            }

            tokenError = o switch
            {
                'N' or 'T' or 'R' when !MemcachedParser.SafeStrtol(token, out _) => BadToken,
                'C' when Number(token) is null => BadToken,
                'F' when Number(token) is null => MemcachedParser.BadFormat,
                'M' when token.Length != 1 => "CLIENT_ERROR incorrect length for M token",
                'J' when Number(token) is null => "CLIENT_ERROR invalid numeric initial value",
                'D' when Number(token) is null => "CLIENT_ERROR invalid numeric delta value",
                _ => tokenError,
            };
        }

        return tokenError;
    }

    /// <summary>
    /// A key sent in base64 (flag b), decoded as memcached decodes it: characters outside the alphabet are skipped, the
    /// rest must come in groups of four, and decoding stops after the first group with padding. Null when that fails or
    /// gives nothing. The bytes come back one char per byte, as the protocol's other keys.
    /// </summary>
    internal static string? DecodeKey(string text)
    {
        var count = 0;
        foreach (var c in text)
        {
            count += Sextet(c) >= 0 ? 1 : 0;
        }

        if (count == 0 || count % 4 != 0)
        {
            return null;
        }

        Span<byte> output = stackalloc byte[count / 4 * 3];
        Span<int> block = stackalloc int[4];
        int length = 0, filled = 0, pad = 0;
        foreach (var c in text)
        {
            if (Sextet(c) is not (>= 0 and var value))
            {
                continue;
            }

            pad += c == '=' ? 1 : 0;
            block[filled++] = value;
            if (filled < 4)
            {
                continue;
            }

            output[length++] = (byte)((block[0] << 2) | (block[1] >> 4));
            output[length++] = (byte)((block[1] << 4) | (block[2] >> 2));
            output[length++] = (byte)((block[2] << 6) | block[3]);
            filled = 0;
            if (pad > 0)
            {
                if (pad > 2)
                {
                    return null;
                }

                length -= pad;
                break;
            }
        }

        return length == 0 ? null : System.Text.Encoding.Latin1.GetString(output[..length]);
    }

    /// <summary>The key as a reply's k flag gives it: as sent, or for a base64 key its bytes encoded again and the b flag.</summary>
    private static string EchoKey(string sent, string? binaryKey) => binaryKey is null ? sent : Base64Key(binaryKey);

    /// <summary>
    /// Whether a reply gives a stored item's key in base64: when it was stored with a base64 key, or when it holds a
    /// space or a line break, which a key sent as text cannot (another door, RESP or the SDK, may have written it), so
    /// that a reply line never carries them.
    /// </summary>
    public static bool PrintsInBase64(string bytes, bool binary) => binary || bytes.AsSpan().IndexOfAny(" \r\n") >= 0;

    /// <summary>A key's bytes (one char per byte) as memcached writes a binary key: base64, then the b flag.</summary>
    public static string Base64Key(string bytes) => Base64(bytes) + " b";

    /// <summary>A key's bytes (one char per byte) in base64.</summary>
    public static string Base64(string bytes) => Convert.ToBase64String(System.Text.Encoding.Latin1.GetBytes(bytes));

    private static int Sextet(char c) => c switch
    {
        >= 'A' and <= 'Z' => c - 'A',
        >= 'a' and <= 'z' => c - 'a' + 26,
        >= '0' and <= '9' => c - '0' + 52,
        '+' => 62,
        '/' => 63,
        '=' => 0,
        _ => -1,
    };

    private static bool OpaqueTooLong(string[] flags) => Array.Exists(flags, f => f[0] == 'O' && f.Length > MaxOpaque);

    private static string? Token(string[] flags, char flag) => IndexOf(flags, flag) is var i and >= 0 ? flags[i][1..] : null;

    /// <summary>memcached's safe_strtoull as decimal text, or null.</summary>
    private static string? Number(string? token) =>
        token is not null && CacheKeyspace.TryParseMemcachedNumber(token, out var value) ? value.ToString(CultureInfo.InvariantCulture) : null;

    /// <summary>The TTL in seconds that exptime <paramref name="exptime"/> gives an item now (-1 for none).</summary>
    private static long TtlOf(int exptime)
    {
        if (exptime == 0)
        {
            return -1;
        }

        if (exptime is > 0 and <= (int)CacheKeyspace.MemcachedRelativeLimitSeconds)
        {
            return exptime;
        }

        return Math.Max(0, exptime - DateTimeOffset.UtcNow.ToUnixTimeSeconds());
    }
}
