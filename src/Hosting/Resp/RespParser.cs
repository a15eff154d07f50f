using System.Buffers;
using System.Buffers.Text;
using System.Text;
using Granary.Caching;

namespace Granary.Server.Resp;

/// <summary>What <see cref="RespParser.TryParse"/> found at the start of the buffer.</summary>
internal enum RespParseStatus
{
    /// <summary>A whole command; the buffer was advanced past it.</summary>
    Command,

    /// <summary>The frame is not complete yet: read more (nothing consumed).</summary>
    Incomplete,

    /// <summary>An empty frame (<c>*0</c>, <c>*-1</c> or a blank inline line) was skipped.</summary>
    Skipped,

    /// <summary>Malformed input: answer <c>-ERR Protocol error: ...</c> and close the connection.</summary>
    ProtocolError,
}

/// <summary>
/// One parsed command: its arguments as cache strings (<see cref="CacheBytes"/>: UTF-8 text as itself, any other
/// bytes escaped), so every byte string a client sends is kept exactly.
/// </summary>
internal readonly record struct RespCommand(string[] Arguments);

/// <summary>
/// The request side of RESP, as <c>redis-server</c> parses it: multibulk frames (<c>*N</c> then N
/// <c>$len</c> bulks) and inline commands (a line of words, for telnet). Limits are checked before any
/// byte of a frame is buffered beyond them, with Redis's error texts. Arguments are any bytes, decoded by
/// <see cref="CacheBytes.FromBytes"/>: UTF-8 text as itself, anything else escaped, never replaced.
/// </summary>
internal sealed class RespParser(RespOptions options)
{
    /// <summary>Longest inline line or <c>*N</c>/<c>$N</c> header line Redis accepts (PROTO_INLINE_MAX_SIZE).</summary>
    public const int MaxInlineBytes = 64 * 1024;

    /// <summary>Most arguments before authentication (Redis's limit for unauthenticated clients).</summary>
    public const int UnauthenticatedMaxCount = 10;

    /// <summary>Longest bulk before authentication (Redis's limit for unauthenticated clients).</summary>
    public const int UnauthenticatedMaxBulk = 16 * 1024;

    /// <summary>Longest command name <see cref="CommandName"/> looks up.</summary>
    private const int MaxCommandNameLength = 32;

    /// <summary>Buckets of <see cref="CommandNames"/> (a power of two).</summary>
    private const int NameBuckets = 256;

    /// <summary>The cache's command names (upper case, as bytes and as the table's string), by <see cref="NameBucket"/>.</summary>
    private static readonly (byte[] Upper, string Name)[][] CommandNames = BuildCommandNames();

    /// <summary>Most bulks of a frame whose places <see cref="TryParseWhole"/> keeps on the stack.</summary>
    private const int MaxPlacesOnStack = 32;

    /// <summary>Parses one frame from the start of <paramref name="buffer"/>.</summary>
    /// <param name="buffer">Unconsumed input; advanced past a parsed or skipped frame.</param>
    /// <param name="authenticated">False while a password is required and not given: tighter limits apply.</param>
    /// <param name="command">The command when <see cref="RespParseStatus.Command"/>.</param>
    /// <param name="error">Redis's text (after <c>ERR </c>) when <see cref="RespParseStatus.ProtocolError"/>.</param>
    public RespParseStatus TryParse(ref ReadOnlySequence<byte> buffer, bool authenticated, out RespCommand command, out string? error)
    {
        command = default;
        error = null;
        if (buffer.IsEmpty)
        {
            return RespParseStatus.Incomplete;
        }

        if (buffer.FirstSpan[0] == (byte)'*' && TryParseWhole(buffer.FirstSpan, authenticated, out command, out var consumed))
        {
            buffer = buffer.Slice(consumed);
            return RespParseStatus.Command;
        }

        var reader = new SequenceReader<byte>(buffer);
        var status = buffer.FirstSpan[0] == (byte)'*'
            ? ParseMultibulk(ref reader, authenticated, out command, out error)
            : ParseInline(ref reader, out command, out error);
        if (status is RespParseStatus.Command or RespParseStatus.Skipped)
        {
            buffer = buffer.Slice(reader.Position);
        }
        else if (status == RespParseStatus.Incomplete && buffer.Length > options.MaxRequestBytes)
        {
            error = $"Protocol error: request exceeds {options.MaxRequestBytes} bytes";
            return RespParseStatus.ProtocolError;
        }

        return status;
    }

    private RespParseStatus ParseMultibulk(ref SequenceReader<byte> reader, bool authenticated, out RespCommand command, out string? error)
    {
        command = default;
        error = null;
        reader.Advance(1);
        var header = ReadHeader(ref reader, "mbulk", out var count, out error);
        if (header != RespParseStatus.Command)
        {
            return header;
        }

        if (count is null || count > int.MaxValue || count > options.MaxMultibulkCount || (!authenticated && count > UnauthenticatedMaxCount))
        {
            error = "Protocol error: invalid multibulk length";
            return RespParseStatus.ProtocolError;
        }

        if (count <= 0)
        {
            return RespParseStatus.Skipped;
        }

        var maxBulk = authenticated ? options.MaxBulkLength : Math.Min(options.MaxBulkLength, UnauthenticatedMaxBulk);
        // Slices first, decoded once the frame is complete: a frame arriving in many reads is scanned again
        // on each, but decoded once.
        var slices = new ReadOnlySequence<byte>[count.Value];
        for (var i = 0; i < slices.Length; i++)
        {
            if (!reader.TryPeek(out var marker))
            {
                return RespParseStatus.Incomplete;
            }

            if (marker != (byte)'$')
            {
                error = $"Protocol error: expected '$', got '{Printable(marker)}'";
                return RespParseStatus.ProtocolError;
            }

            reader.Advance(1);
            header = ReadHeader(ref reader, "bulk", out var length, out error);
            if (header != RespParseStatus.Command)
            {
                return header;
            }

            if (length is null || length < 0 || length > maxBulk)
            {
                error = "Protocol error: invalid bulk length";
                return RespParseStatus.ProtocolError;
            }

            if (reader.Remaining < length.Value + 2)
            {
                return RespParseStatus.Incomplete;
            }

            slices[i] = reader.UnreadSequence.Slice(0, length.Value);
            reader.Advance(length.Value);
            if (!reader.IsNext("\r\n"u8, advancePast: true))
            {
                error = "Protocol error: expected CRLF after a bulk string";
                return RespParseStatus.ProtocolError;
            }
        }

        var arguments = new string[slices.Length];
        arguments[0] = slices[0].IsSingleSegment ? CommandName(slices[0].FirstSpan) : CommandName(slices[0].ToArray());
        for (var i = 1; i < slices.Length; i++)
        {
            arguments[i] = slices[i].IsSingleSegment ? CacheBytes.FromBytes(slices[i].FirstSpan) : CacheBytes.FromBytes(slices[i].ToArray());
        }

        command = new RespCommand(arguments);
        return RespParseStatus.Command;
    }

    /// <summary>
    /// The common case without a <see cref="SequenceReader{T}"/>: a well-formed multibulk frame whole in
    /// <paramref name="span"/> (the first segment of the input), its arguments decoded straight from it. Anything else
    /// (a frame cut by the end of the segment, a limit, malformed input, an empty frame) returns false, and
    /// <see cref="ParseMultibulk"/> parses the frame from its start, with its answers.
    /// </summary>
    private bool TryParseWhole(ReadOnlySpan<byte> span, bool authenticated, out RespCommand command, out int consumed)
    {
        command = default;
        consumed = 0;
        var position = 1;
        if (!TryReadNumber(span, ref position, out var count) || count <= 0 || count > options.MaxMultibulkCount || (!authenticated && count > UnauthenticatedMaxCount))
        {
            return false;
        }

        // Validate the whole frame before decoding anything: a frame that is not complete yet is parsed
        // again on the next read, and must not be decoded on each. The bulks' places are kept for the decoding.
        var maxBulk = authenticated ? options.MaxBulkLength : Math.Min(options.MaxBulkLength, UnauthenticatedMaxBulk);
        Span<int> places = count <= MaxPlacesOnStack ? stackalloc int[2 * MaxPlacesOnStack] : new int[2 * (int)count];
        for (var i = 0; i < count; i++)
        {
            if (!TryReadBulk(span, ref position, maxBulk, out places[2 * i], out places[(2 * i) + 1]))
            {
                return false;
            }
        }

        var arguments = new string[(int)count];
        arguments[0] = CommandName(span.Slice(places[0], places[1]));
        for (var i = 1; i < arguments.Length; i++)
        {
            arguments[i] = CacheBytes.FromBytes(span.Slice(places[2 * i], places[(2 * i) + 1]));
        }

        command = new RespCommand(arguments);
        consumed = position;
        return true;
    }

    /// <summary>
    /// The command name <paramref name="bytes"/> spell: the cache's own upper-case string for a command it knows,
    /// in any case (no string made per command; every command table lookup finds it), else the bytes decoded.
    /// </summary>
    internal static string CommandName(ReadOnlySpan<byte> bytes)
    {
        if (bytes.Length is > 0 and <= MaxCommandNameLength)
        {
            foreach (var (upper, name) in CommandNames[NameBucket(bytes)])
            {
                if (Ascii.EqualsIgnoreCase(bytes, upper))
                {
                    return name;
                }
            }
        }

        return CacheBytes.FromBytes(bytes);
    }

    /// <summary>The bucket of a command name, the same in any case: its length and its first and last bytes.</summary>
    private static int NameBucket(ReadOnlySpan<byte> name) =>
        ((name.Length * 7) ^ ((name[0] | 0x20) * 31) ^ (name[^1] | 0x20)) & (NameBuckets - 1);

    private static (byte[] Upper, string Name)[][] BuildCommandNames()
    {
        var buckets = new List<(byte[], string)>[NameBuckets];
        foreach (var name in CacheCommandTable.Commands.Keys)
        {
            var bytes = Encoding.ASCII.GetBytes(name);
            if (bytes.Length <= MaxCommandNameLength)
            {
                (buckets[NameBucket(bytes)] ??= []).Add((bytes, name));
            }
        }

        return [.. buckets.Select(bucket => bucket?.ToArray() ?? [])];
    }

    /// <summary>A <c>$len</c> header, the bulk and its CRLF, whole and within <paramref name="maxBulk"/>, at <paramref name="position"/>.</summary>
    private static bool TryReadBulk(ReadOnlySpan<byte> span, ref int position, long maxBulk, out int start, out int length)
    {
        start = 0;
        length = 0;
        if (position >= span.Length || span[position] != (byte)'$')
        {
            return false;
        }

        position++;
        if (!TryReadNumber(span, ref position, out var value) || value < 0 || value > maxBulk || span.Length - position < value + 2)
        {
            return false;
        }

        start = position;
        length = (int)value;
        position += length;
        if (span[position] != (byte)'\r' || span[position + 1] != (byte)'\n')
        {
            return false;
        }

        position += 2;
        return true;
    }

    /// <summary>
    /// The non-negative number of at most 18 digits from <paramref name="position"/> to a CRLF; <paramref name="position"/>
    /// moves past the CRLF. Anything else (a sign, more digits, another byte, the end of the span) returns false,
    /// and <see cref="ReadHeader"/> reads the frame with Redis's answers.
    /// </summary>
    private static bool TryReadNumber(ReadOnlySpan<byte> span, ref int position, out long value)
    {
        value = 0;
        var i = position;
        var end = Math.Min(span.Length, position + 18);
        while (i < end && (uint)(span[i] - '0') <= 9)
        {
            value = (value * 10) + (span[i] - '0');
            i++;
        }

        if (i == position || i + 1 >= span.Length || span[i] != (byte)'\r' || span[i + 1] != (byte)'\n')
        {
            return false;
        }

        position = i + 2;
        return true;
    }

    /// <summary>Reads the number after <c>*</c> or <c>$</c> up to CRLF (null when it is not a number).</summary>
    private static RespParseStatus ReadHeader(ref SequenceReader<byte> reader, string what, out long? value, out string? error)
    {
        value = null;
        error = null;
        if (!reader.TryReadTo(out ReadOnlySequence<byte> line, "\r\n"u8, advancePastDelimiter: true))
        {
            if (reader.Remaining > MaxInlineBytes)
            {
                error = $"Protocol error: too big {what} count string";
                return RespParseStatus.ProtocolError;
            }

            return RespParseStatus.Incomplete;
        }

        if (line.Length is > 0 and <= 20)
        {
            Span<byte> digits = stackalloc byte[(int)line.Length];
            line.CopyTo(digits);
            if (Utf8Parser.TryParse(digits, out long parsed, out var consumed) && consumed == digits.Length && digits[0] != (byte)'+')
            {
                value = parsed;
            }
        }

        return RespParseStatus.Command;
    }

    private static RespParseStatus ParseInline(ref SequenceReader<byte> reader, out RespCommand command, out string? error)
    {
        command = default;
        error = null;
        if (!reader.TryReadTo(out ReadOnlySequence<byte> line, (byte)'\n', advancePastDelimiter: true))
        {
            if (reader.Remaining > MaxInlineBytes)
            {
                error = "Protocol error: too big inline request";
                return RespParseStatus.ProtocolError;
            }

            return RespParseStatus.Incomplete;
        }

        if (line.Length > MaxInlineBytes)
        {
            error = "Protocol error: too big inline request";
            return RespParseStatus.ProtocolError;
        }

        // The line as one char per byte (quotes and escapes are ASCII); each word is then decoded as bytes.
        var text = line.IsSingleSegment ? Encoding.Latin1.GetString(line.FirstSpan) : Encoding.Latin1.GetString(line.ToArray());
        if (SplitArguments(text.TrimEnd('\r')) is not { } arguments)
        {
            error = "Protocol error: unbalanced quotes in request";
            return RespParseStatus.ProtocolError;
        }

        if (arguments.Count == 0)
        {
            return RespParseStatus.Skipped;
        }

        command = new RespCommand([.. arguments.Select(CacheBytes.FromLatin1)]);
        return RespParseStatus.Command;
    }

    /// <summary>
    /// Splits an inline line (one char per byte) into words as Redis's <c>sdssplitargs</c> does: words start after
    /// C's <c>isspace</c> bytes and end at a space, tab, CR or LF; double quotes with
    /// <c>\xHH</c>, <c>\"</c>, <c>\\</c>, <c>\n</c>, <c>\r</c>, <c>\t</c>, <c>\b</c>, <c>\a</c> escapes; single quotes
    /// with <c>\'</c>. Null when a quote is not closed.
    /// </summary>
    internal static List<string>? SplitArguments(string line)
    {
        static bool IsSpace(char c) => c is ' ' or '\t' or '\n' or '\v' or '\f' or '\r';
        static bool EndsWord(char c) => c is ' ' or '\t' or '\n' or '\r';

        var words = new List<string>();
        var i = 0;
        while (true)
        {
            while (i < line.Length && IsSpace(line[i]))
            {
                i++;
            }

            if (i >= line.Length)
            {
                return words;
            }

            var word = new StringBuilder();
            var quote = '\0';
            for (; i < line.Length; i++)
            {
                var c = line[i];
                if (quote == '\0')
                {
                    if (EndsWord(c))
                    {
                        break;
                    }

                    if (c is '"' or '\'')
                    {
                        quote = c;
                        continue;
                    }

                    word.Append(c);
                }
                else if (c == quote)
                {
                    quote = '\0';
                    if (i + 1 < line.Length && !IsSpace(line[i + 1]))
                    {
                        // Redis: a closing quote must be followed by a space.
                        return null;
                    }
                }
                else if (c == '\\' && quote == '"' && i + 3 < line.Length && line[i + 1] == 'x' && char.IsAsciiHexDigit(line[i + 2]) && char.IsAsciiHexDigit(line[i + 3]))
                {
                    word.Append((char)Convert.ToByte(line.Substring(i + 2, 2), 16));
                    i += 3;
                }
                else if (c == '\\' && quote == '"' && i + 1 < line.Length)
                {
                    i++;
                    word.Append(line[i] switch { 'n' => '\n', 'r' => '\r', 't' => '\t', 'b' => '\b', 'a' => '\a', var other => other });
                }
                else if (c == '\\' && quote == '\'' && i + 1 < line.Length && line[i + 1] == '\'')
                {
                    i++;
                    word.Append('\'');
                }
                else
                {
                    word.Append(c);
                }
            }

            if (quote != '\0')
            {
                return null;
            }

            words.Add(word.ToString());
        }
    }

    private static string Printable(byte b) => b is >= 0x20 and < 0x7f ? ((char)b).ToString() : $"\\x{b:x2}";
}
