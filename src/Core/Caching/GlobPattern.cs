using System.Buffers;
using System.Text;

namespace Granary.Caching;

/// <summary>
/// A Redis glob pattern (KEYS, SCAN MATCH: <c>*</c>, <c>?</c>, <c>[abc]</c>, <c>[^a-z]</c>, <c>\x</c>), compiled
/// once and matched in time linear in the key, whatever the pattern.
/// </summary>
/// <remarks>
/// <para>
/// Redis matches by recursing at every <c>*</c>, so a pattern with many stars can cost time exponential in
/// their number (<c>*a*a*a*a*b</c> against a long key). Here a pattern is a list of elements, each a star or
/// one byte out of a set, and matching runs the pattern's automaton over the key's UTF-8 bytes with one bit
/// per element (bit-parallel, as in Shift-And): each byte of a key costs <see cref="WordsPerByte"/> word
/// operations, counted in <see cref="Steps"/>. A key of n bytes costs at most 1 + n × <see cref="WordsPerByte"/> steps.
/// </para>
/// <para>
/// The corner cases are Redis 7.0's (<c>stringmatchlen</c>), byte by byte: consecutive stars are one star;
/// outside a class <c>\</c> makes the next byte literal and a trailing <c>\</c> is a literal backslash; inside a
/// class <c>\</c> escapes, <c>a-z</c> is a range in either order (bytes compared as signed C chars, as on
/// x86-64), <c>]</c> right after <c>[</c> or <c>[^</c> ends an empty class, and a class without <c>]</c> runs to
/// the end of the pattern (the characters after a range's end included); the empty key matches only the empty
/// pattern (KEYS and SCAN take the pattern <c>*</c> to mean every key before any matching, as Redis does).
/// </para>
/// </remarks>
/// <example><code>
/// var glob = GlobPattern.Compile("user:*:name");
/// glob.IsMatch("user:42:name");   // true
/// </code></example>
public sealed class GlobPattern
{
    private const int StackBytes = 1024;

    // Transitions[b * words + w]: bit i + 1 is set when element i is a byte set holding byte b (state i -> i + 1).
    private readonly ulong[] _transitions;

    // Bit i is set when element i is a star: state i keeps itself on any byte and reaches state i + 1 on no byte.
    private readonly ulong[] _stars;
    private readonly int _elements;
    private readonly int _finalStar;

    private GlobPattern(string pattern, List<(bool Star, ulong[] Bytes)> elements, int wildcards)
    {
        Pattern = pattern;
        Wildcards = wildcards;
        _elements = elements.Count;
        WordsPerByte = (_elements / 64) + 1;
        _transitions = new ulong[256 * WordsPerByte];
        _stars = new ulong[WordsPerByte];
        _finalStar = _elements > 0 && elements[^1].Star ? _elements - 1 : -1;
        for (var i = 0; i < _elements; i++)
        {
            var (star, bytes) = elements[i];
            if (star)
            {
                _stars[i / 64] |= 1UL << (i % 64);
                continue;
            }

            var to = i + 1;
            for (var b = 0; b < 256; b++)
            {
                if ((bytes[b / 64] & (1UL << (b % 64))) != 0)
                {
                    _transitions[(b * WordsPerByte) + (to / 64)] |= 1UL << (to % 64);
                }
            }
        }
    }

    /// <summary>The pattern as given.</summary>
    public string Pattern { get; }

    /// <summary>Stars (a run of stars counts once), <c>?</c> and classes in the pattern.</summary>
    public int Wildcards { get; }

    /// <summary>Word operations per byte of a key: ⌈(elements + 1) / 64⌉.</summary>
    public int WordsPerByte { get; }

    /// <summary>Work done by <see cref="IsMatch(string)"/> on this instance so far: one per call plus one per word operation.</summary>
    public long Steps { get; private set; }

    /// <summary>True when <paramref name="text"/> matches <paramref name="pattern"/> (compiles the pattern each time).</summary>
    public static bool IsMatch(string pattern, string text) => Compile(pattern).IsMatch(text);

    /// <summary>Compiles <paramref name="pattern"/>; the caller bounds its length first (the tables grow with it).</summary>
    public static GlobPattern Compile(string pattern)
    {
        ArgumentNullException.ThrowIfNull(pattern);
        var p = CacheBytes.GetBytes(pattern);
        var elements = new List<(bool Star, ulong[] Bytes)>();
        var wildcards = 0;
        var i = 0;
        while (i < p.Length)
        {
            var set = new ulong[4];
            switch (p[i])
            {
                case (byte)'*':
                    while (i + 1 < p.Length && p[i + 1] == '*')
                    {
                        i++;
                    }

                    elements.Add((true, set));
                    wildcards++;
                    i++;
                    continue;
                case (byte)'?':
                    Array.Fill(set, ulong.MaxValue);
                    wildcards++;
                    break;
                case (byte)'[':
                    i = ParseClass(p, i + 1, set);
                    wildcards++;
                    break;
                case (byte)'\\' when p.Length - i >= 2:
                    Add(set, p[++i]);
                    break;
                default:
                    Add(set, p[i]);
                    break;
            }

            elements.Add((false, set));
            i++;
        }

        return new GlobPattern(pattern, elements, wildcards);
    }

    /// <summary>True when <paramref name="text"/> matches the pattern (case-sensitive, byte by byte: UTF-8, or the bytes an escaped string stands for).</summary>
    public bool IsMatch(string text)
    {
        ArgumentNullException.ThrowIfNull(text);
        Steps++;
        if (text.Length == 0 || _elements == 0)
        {
            // Redis: the empty key matches only the empty pattern, and the empty pattern only the empty key.
            return text.Length == 0 && Pattern.Length == 0;
        }

        var max = Encoding.UTF8.GetMaxByteCount(text.Length);
        byte[]? rented = max > StackBytes ? ArrayPool<byte>.Shared.Rent(max) : null;
        Span<byte> buffer = rented ?? stackalloc byte[StackBytes];
        try
        {
            var bytes = buffer[..CacheBytes.GetBytes(text, buffer)];
            return WordsPerByte == 1 ? RunOneWord(bytes) : Run(bytes);
        }
        finally
        {
            if (rented is not null)
            {
                ArrayPool<byte>.Shared.Return(rented);
            }
        }
    }

    private bool RunOneWord(ReadOnlySpan<byte> bytes)
    {
        var stars = _stars[0];
        var active = 1UL | ((1UL & stars) << 1);
        var finalStar = _finalStar >= 0 ? 1UL << _finalStar : 0;
        foreach (var b in bytes)
        {
            Steps++;
            active = ((active << 1) & _transitions[b]) | (active & stars);
            active |= (active & stars) << 1;
            if (active == 0)
            {
                return false;
            }

            if ((active & finalStar) != 0)
            {
                // The final star takes whatever is left.
                return true;
            }
        }

        return (active & (1UL << _elements)) != 0;
    }

    private bool Run(ReadOnlySpan<byte> bytes)
    {
        var words = WordsPerByte;
        Span<ulong> active = stackalloc ulong[words];
        Span<ulong> next = stackalloc ulong[words];
        active[0] = 1;
        Close(active, active);
        foreach (var b in bytes)
        {
            Steps += words;
            var row = _transitions.AsSpan(b * words, words);
            var any = 0UL;
            for (var w = 0; w < words; w++)
            {
                var shifted = (active[w] << 1) | (w > 0 ? active[w - 1] >> 63 : 0);
                next[w] = (shifted & row[w]) | (active[w] & _stars[w]);
            }

            Close(next, active);
            foreach (var word in active)
            {
                any |= word;
            }

            if (any == 0)
            {
                return false;
            }

            if (_finalStar >= 0 && (active[_finalStar / 64] & (1UL << (_finalStar % 64))) != 0)
            {
                return true;
            }
        }

        return (active[_elements / 64] & (1UL << (_elements % 64))) != 0;
    }

    /// <summary>Adds to each star's state the state after it (a star may match nothing); stars are never adjacent.</summary>
    private void Close(ReadOnlySpan<ulong> states, Span<ulong> closed)
    {
        var carry = 0UL;
        for (var w = 0; w < states.Length; w++)
        {
            var starred = states[w] & _stars[w];
            closed[w] = states[w] | (starred << 1) | carry;
            carry = starred >> 63;
        }
    }

    /// <summary>Parses a class from just after its <c>[</c> as Redis reads it; returns the index of its last character.</summary>
    private static int ParseClass(byte[] p, int i, ulong[] set)
    {
        var negate = i < p.Length && p[i] == '^';
        if (negate)
        {
            i++;
        }

        while (true)
        {
            if (i < p.Length && p[i] == '\\' && p.Length - i >= 2)
            {
                Add(set, p[++i]);
            }
            else if (i < p.Length && p[i] == ']')
            {
                break;
            }
            else if (i >= p.Length)
            {
                // No closing bracket: the class ends with the pattern.
                i = p.Length - 1;
                break;
            }
            else if (p.Length - i >= 3 && p[i + 1] == '-')
            {
                // C compares (signed) chars: a range reaching a byte of 0x80 or above wraps below zero.
                int from = (sbyte)p[i], to = (sbyte)p[i + 2];
                if (from > to)
                {
                    (from, to) = (to, from);
                }

                for (var c = from; c <= to; c++)
                {
                    Add(set, (byte)(sbyte)c);
                }

                i += 2;
            }
            else
            {
                Add(set, p[i]);
            }

            i++;
        }

        if (negate)
        {
            for (var w = 0; w < set.Length; w++)
            {
                set[w] = ~set[w];
            }
        }

        return i;
    }

    private static void Add(ulong[] set, byte b) => set[b / 64] |= 1UL << (b % 64);
}
