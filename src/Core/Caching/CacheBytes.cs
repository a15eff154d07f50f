using System.Buffers;
using System.Text;
using System.Text.Unicode;

namespace Granary.Caching;

/// <summary>
/// Byte strings in the cache's strings: how the wire endpoints (RESP, Memcached), whose keys, values,
/// fields and members are bytes, store any bytes in a cache that keeps text, and get the same bytes back.
/// <list type="bullet">
/// <item>UTF-8 text without U+0000 is stored as that text (the same item over the SDK and both endpoints);</item>
/// <item>any other bytes (not UTF-8, a zero byte, or text starting with <see cref="Mark"/>) are stored
/// <em>escaped</em>: <see cref="Mark"/>, then one character per byte, printable ASCII (<c>!</c> to <c>~</c>) as
/// itself and every other byte b as U+E000 + b (private-use characters).</item>
/// </list>
/// Different byte strings always give different strings; an escaped string is storable text (no U+0000, no
/// surrogate) one character longer than its bytes. The commands that see bytes (lengths, ranges, APPEND,
/// lexicographic order, glob patterns, hash slots) read a string through <see cref="GetBytes(string)"/>, so a
/// binary value behaves as it does in Redis or memcached. A string the SDK writes that starts with
/// <see cref="Mark"/> followed only by such characters reads, over the endpoints, as the bytes it spells.
/// </summary>
/// <example><code>
/// var stored = CacheBytes.FromBytes([0x89, 0x50, 0x4E, 0x47]);   // "\uE100\uE089PNG"
/// byte[] back = CacheBytes.GetBytes(stored);                       // 89 50 4E 47
/// </code></example>
public static class CacheBytes
{
    /// <summary>The first character of an escaped byte string (a private-use character).</summary>
    public const char Mark = '\uE100';

    private const char ByteBase = '\uE000';

    /// <summary>The string that stores <paramref name="bytes"/>.</summary>
    public static string FromBytes(ReadOnlySpan<byte> bytes)
    {
        if (bytes.IndexOf((byte)0) < 0)
        {
            if (Ascii.IsValid(bytes))
            {
                return Encoding.ASCII.GetString(bytes);
            }

            if (Utf8.IsValid(bytes))
            {
                var text = Encoding.UTF8.GetString(bytes);
                if (text[0] != Mark)
                {
                    return text;
                }
            }
        }

        return Escape(bytes);
    }

    /// <summary>The string that stores the bytes of <paramref name="bytes"/>, each given as one character (Latin-1).</summary>
    public static string FromLatin1(string bytes)
    {
        ArgumentNullException.ThrowIfNull(bytes);
        if (Ascii.IsValid(bytes) && !bytes.Contains('\0', StringComparison.Ordinal))
        {
            return bytes;
        }

        var length = bytes.Length;
        var buffer = length <= 512 ? stackalloc byte[length] : new byte[length];
        Encoding.Latin1.GetBytes(bytes, buffer);
        return FromBytes(buffer);
    }

    /// <summary>True when <paramref name="text"/> is an escaped byte string (see the type's summary).</summary>
    public static bool IsEscaped(string text)
    {
        ArgumentNullException.ThrowIfNull(text);
        return text.Length > 1 && text[0] == Mark && IsEscapeBody(text.AsSpan(1));
    }

    /// <summary>How many bytes <paramref name="text"/> stands for.</summary>
    public static int ByteCount(string text) => IsEscaped(text) ? text.Length - 1 : Encoding.UTF8.GetByteCount(text);

    /// <summary>The bytes <paramref name="text"/> stands for.</summary>
    public static byte[] GetBytes(string text)
    {
        if (!IsEscaped(text))
        {
            return Encoding.UTF8.GetBytes(text);
        }

        var bytes = new byte[text.Length - 1];
        Unescape(text.AsSpan(1), bytes);
        return bytes;
    }

    /// <summary>Writes the bytes <paramref name="text"/> stands for into <paramref name="destination"/>; returns how many.</summary>
    public static int GetBytes(string text, Span<byte> destination)
    {
        if (!IsEscaped(text))
        {
            return Encoding.UTF8.GetBytes(text, destination);
        }

        Unescape(text.AsSpan(1), destination);
        return text.Length - 1;
    }

    /// <summary>Writes the bytes <paramref name="text"/> stands for to <paramref name="writer"/>.</summary>
    public static void Write(string text, IBufferWriter<byte> writer)
    {
        ArgumentNullException.ThrowIfNull(writer);
        var count = ByteCount(text);
        var span = writer.GetSpan(count);
        writer.Advance(GetBytes(text, span));
    }

    /// <summary>The string that stores the bytes of <paramref name="first"/> followed by those of <paramref name="second"/>.</summary>
    public static string Concat(string first, string second)
    {
        ArgumentNullException.ThrowIfNull(first);
        ArgumentNullException.ThrowIfNull(second);
        var lead = first.Length > 0 ? first : second;
        if (lead.Length == 0 || (lead[0] != Mark && !IsEscaped(second)))
        {
            return first + second;
        }

        var bytes = new byte[ByteCount(first) + ByteCount(second)];
        var written = GetBytes(first, bytes);
        GetBytes(second, bytes.AsSpan(written));
        return FromBytes(bytes);
    }

    /// <summary>
    /// Orders strings as Redis orders byte strings (memcmp, then length) by the bytes they stand for; two different
    /// strings that stand for the same bytes (only possible for text the SDK wrote) are then ordered ordinally.
    /// </summary>
    public static int Compare(string x, string y)
    {
        ArgumentNullException.ThrowIfNull(x);
        ArgumentNullException.ThrowIfNull(y);
        if ((x.Length == 0 || x[0] != Mark) && (y.Length == 0 || y[0] != Mark))
        {
            return CompareCodePoints(x, y);
        }

        var byBytes = GetBytes(x).AsSpan().SequenceCompareTo(GetBytes(y));
        return byBytes != 0 ? byBytes : string.CompareOrdinal(x, y);
    }

    /// <summary>
    /// The order of the UTF-8 encodings of two texts without forming them: UTF-16 ordinal order except that a
    /// surrogate pair (a code point above U+FFFF) sorts after U+E000-U+FFFF, as its UTF-8 bytes do.
    /// </summary>
    private static int CompareCodePoints(string x, string y)
    {
        var common = x.AsSpan().CommonPrefixLength(y);
        if (common == x.Length || common == y.Length)
        {
            return x.Length.CompareTo(y.Length);
        }

        return Weight(x[common]).CompareTo(Weight(y[common]));

        static int Weight(char c) => c switch
        {
            >= '\uD800' and <= '\uDFFF' => c + 0x2000,
            >= '\uE000' => c - 0x800,
            _ => c,
        };
    }

    private static bool IsEscapeBody(ReadOnlySpan<char> body)
    {
        foreach (var c in body)
        {
            if (c is not ((> ' ' and < '\x7F') or (>= ByteBase and <= '\uE0FF')))
            {
                return false;
            }
        }

        return true;
    }

    private static void Unescape(ReadOnlySpan<char> body, Span<byte> destination)
    {
        for (var i = 0; i < body.Length; i++)
        {
            var c = body[i];
            destination[i] = (byte)(c < '\x7F' ? c : c - ByteBase);
        }
    }

    private static string Escape(ReadOnlySpan<byte> bytes)
    {
        var chars = bytes.Length <= 256 ? stackalloc char[bytes.Length + 1] : new char[bytes.Length + 1];
        chars[0] = Mark;
        for (var i = 0; i < bytes.Length; i++)
        {
            var b = bytes[i];
            chars[i + 1] = b is > (byte)' ' and < 0x7F ? (char)b : (char)(ByteBase + b);
        }

        return new string(chars);
    }
}
