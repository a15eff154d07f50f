using System.Buffers;
using System.Globalization;
using System.Text;
using Granary.Caching;

namespace Granary.Server.Memcached;

/// <summary>What <see cref="MemcachedParser.TryParse"/> found.</summary>
internal enum MemcachedParseStatus
{
    /// <summary>One command was parsed (one step added).</summary>
    Command,

    /// <summary>More bytes are needed.</summary>
    Incomplete,

    /// <summary>A line longer than the limit: the connection is closed.</summary>
    LineTooLong,
}

/// <summary>What a step answers.</summary>
internal enum MemcachedStepKind
{
    /// <summary>A fixed line (an error, VERSION, OK, ...).</summary>
    Text,

    /// <summary>get/gets/gat/gats: VALUE lines and END.</summary>
    Get,

    /// <summary>set/add/replace/append/prepend/cas.</summary>
    Store,

    /// <summary>incr/decr.</summary>
    Incr,

    /// <summary>delete.</summary>
    Delete,

    /// <summary>touch.</summary>
    Touch,

    /// <summary>flush_all.</summary>
    Flush,

    /// <summary>stats.</summary>
    Stats,

    /// <summary>quit: close after the replies before it.</summary>
    Quit,

    /// <summary>A meta command (mg, ms, md, ma): a status code and the return flags asked for.</summary>
    Meta,
}

/// <summary>One parsed command: what to answer, from which cache replies of the cycle.</summary>
internal sealed class MemcachedStep
{
    public required MemcachedStepKind Kind { get; init; }

    /// <summary>The line of a <see cref="MemcachedStepKind.Text"/> step.</summary>
    public string? Text { get; init; }

    /// <summary>The client asked for no reply.</summary>
    public bool NoReply { get; init; }

    /// <summary>A refused storage command (counted in cmd_set, as memcached counts it).</summary>
    public bool Counted { get; init; }

    /// <summary>Index of the step's first cache command in the cycle.</summary>
    public int First { get; init; }

    /// <summary>Number of cache commands of the step.</summary>
    public int Count { get; init; }

    /// <summary>The keys of a get, as their bytes (one char per byte); of a meta command, the key as its k flag echoes it (me: then its bytes).</summary>
    public string[]? Keys { get; init; }

    /// <summary>Per key of a get: its command's offset from <see cref="First"/>.</summary>
    public int[]? KeyCommands { get; init; }

    /// <summary>gets/gats: the VALUE lines carry the CAS unique.</summary>
    public bool WithCas { get; init; }

    /// <summary>flush_all's delay.</summary>
    public TimeSpan Delay { get; init; }

    /// <summary>The meta command: 'g', 's', 'd', 'a' or 'e'.</summary>
    public char Meta { get; init; }

    /// <summary>The meta command's flag tokens in the order sent (each one character and its token).</summary>
    public string[]? MetaFlags { get; init; }
}

/// <summary>
/// The Memcached text protocol parser: command lines (words separated by spaces, ended by <c>\n</c> or
/// <c>\r\n</c>) and the data blocks of storage commands. It turns each command into a step and the
/// cache commands that run it, checking the line as memcached does and answering its errors in
/// memcached's words. A data block longer than the item size limit is read and dropped as it arrives
/// (never buffered); lines are bounded; so one request costs bounded memory.
/// </summary>
internal sealed class MemcachedParser(MemcachedOptions options)
{
    /// <summary>memcached's longest ordinary command line before it gives up on a connection.</summary>
    internal const int MaxLineLength = 2048;

    internal const string BadFormat = "CLIENT_ERROR bad command line format";
    private const string BadExptime = "CLIENT_ERROR invalid exptime argument";
    private const string BadDelta = "CLIENT_ERROR invalid numeric delta argument";
    private const string BadChunk = "CLIENT_ERROR bad data chunk";
    private const string BadDelete = "CLIENT_ERROR bad command line format.  Usage: delete <key> [noreply]";
    private static readonly MemcachedStep UnknownCommand = new() { Kind = MemcachedStepKind.Text, Text = "ERROR" };

    private long _swallow;
    private MemcachedStep? _afterSwallow;

    /// <summary>Parses one command from <paramref name="buffer"/> (advanced past it), adding its step and cache commands.</summary>
    public MemcachedParseStatus TryParse(ref ReadOnlySequence<byte> buffer, List<MemcachedStep> steps, List<string[]> commands)
    {
        while (true)
        {
            if (_swallow > 0)
            {
                var take = Math.Min(_swallow, buffer.Length);
                buffer = buffer.Slice(take);
                _swallow -= take;
                if (_swallow > 0)
                {
                    return MemcachedParseStatus.Incomplete;
                }

                steps.Add(_afterSwallow!);
                _afterSwallow = null;
                return MemcachedParseStatus.Command;
            }

            var newline = buffer.PositionOf((byte)'\n');
            if (newline is null)
            {
                return buffer.Length > LineLimit(buffer) ? MemcachedParseStatus.LineTooLong : MemcachedParseStatus.Incomplete;
            }

            var lineBytes = buffer.Slice(0, newline.Value);
            if (lineBytes.Length > options.MaxGetLineLength)
            {
                return MemcachedParseStatus.LineTooLong;
            }

            var afterLine = buffer.Slice(buffer.GetPosition(1, newline.Value));
            var line = Encoding.Latin1.GetString(lineBytes);
            if (line.EndsWith('\r'))
            {
                line = line[..^1];
            }

            var words = line.Split(' ', StringSplitOptions.RemoveEmptyEntries);
            var step = Parse(words, ref afterLine, commands, out var incomplete);
            if (incomplete)
            {
                return MemcachedParseStatus.Incomplete;
            }

            buffer = afterLine;
            if (step is not null)
            {
                steps.Add(step);
                return MemcachedParseStatus.Command;
            }

            // A data block being dropped: swallow it, then answer.
        }
    }

    private int LineLimit(ReadOnlySequence<byte> buffer)
    {
        Span<byte> start = stackalloc byte[5];
        var head = buffer.Length >= 5 ? start : start[..(int)buffer.Length];
        buffer.Slice(0, head.Length).CopyTo(head);
        return head.StartsWith("get "u8) || head.StartsWith("gets "u8) || head.StartsWith("gat "u8) || head.StartsWith("gats "u8)
            ? options.MaxGetLineLength
            : MaxLineLength;
    }

    private MemcachedStep? Parse(string[] words, ref ReadOnlySequence<byte> rest, List<string[]> commands, out bool incomplete)
    {
        incomplete = false;
        if (words.Length == 0)
        {
            return UnknownCommand;
        }

        var w = words.Length;
        switch (words[0])
        {
            case "get" or "gets" when w >= 2:
                return Get(words, 1, null, words[0] == "gets", commands);
            case "gat" or "gats" when w >= 2:
                return !SafeStrtol(words[1], out var touchTime)
                    ? Line(BadExptime)
                    : Get(words, 2, touchTime.ToString(CultureInfo.InvariantCulture), words[0] == "gats", commands);
            case "set" or "add" or "replace" or "append" or "prepend" when w is 5 or 6:
            case "cas" when w is 6 or 7:
                return Store(words, ref rest, commands, out incomplete);
            case "incr" or "decr" when w is 3 or 4:
                return Incr(words, commands);
            case "delete" when w is >= 2 and <= 4:
                return Delete(words, commands);
            case "touch" when w is 3 or 4:
                return Touch(words, commands);
            case "flush_all" when w is >= 1 and <= 3:
                return Flush(words, commands);
            case "version":
                return Line("VERSION " + MemcachedEndpoint.Version);
            case "verbosity" when w is 2 or 3:
                return Line("OK", words[^1] == "noreply");
            case "stats" when w == 1:
                commands.Add(["DBSIZE"]);
                return new MemcachedStep { Kind = MemcachedStepKind.Stats, First = commands.Count - 1, Count = 1 };
            case "quit":
                return new MemcachedStep { Kind = MemcachedStepKind.Quit };
            case "mn" when w == 1:
                return Line("MN");
            case "mg" or "md" or "ma" when w >= 2:
                return MetaParser.Parse(words, commands);
            case "me":
                return MetaParser.Debug(words, commands);
            case "ms" when w >= 2:
                return MetaStore(words, ref rest, commands, out incomplete);
            default:
                return UnknownCommand;
        }
    }

    internal static MemcachedStep Line(string text, bool noReply = false, bool counted = false) =>
        new() { Kind = MemcachedStepKind.Text, Text = text, NoReply = noReply, Counted = counted };

    private static MemcachedStep Get(string[] words, int firstKey, string? exptime, bool withCas, List<string[]> commands)
    {
        for (var i = firstKey; i < words.Length; i++)
        {
            if (words[i].Length > MemcachedOptions.MaxKeyBytes)
            {
                return Line(BadFormat);
            }
        }

        var keys = words[firstKey..];
        var indexes = new int[keys.Length];
        var first = commands.Count;
        for (var i = 0; i < keys.Length; i++)
        {
            var key = KeyText(keys[i]);
            indexes[i] = commands.Count - first;
            commands.Add(exptime is null ? ["MCGET", key] : ["MCGAT", key, exptime]);
        }

        return new MemcachedStep { Kind = MemcachedStepKind.Get, First = first, Count = commands.Count - first, Keys = keys, KeyCommands = indexes, WithCas = withCas };
    }

    private MemcachedStep? Store(string[] words, ref ReadOnlySequence<byte> rest, List<string[]> commands, out bool incomplete)
    {
        incomplete = false;
        var mode = words[0];
        var isCas = mode == "cas";
        var noReply = words[^1] == "noreply";
        var key = words[1];
        if (key.Length > MemcachedOptions.MaxKeyBytes)
        {
            return Line(BadFormat, noReply, counted: true);
        }

        ulong unique = 0;
        if (!CacheKeyspace.TryParseMemcachedNumber(words[2], out var flags)
            || !SafeStrtol(words[3], out var exptime)
            || !SafeStrtol(words[4], out var length)
            || (isCas && !CacheKeyspace.TryParseMemcachedNumber(words[5], out unique))
            || length < 0)
        {
            return Line(BadFormat, noReply, counted: true);
        }

        var total = length + 2L;
        if (length > options.MaxItemSize)
        {
            // Read and drop the data as it comes, then answer; a failed set leaves no stale value behind.
            if (mode == "set")
            {
                commands.Add(["DEL", KeyText(key)]);
            }

            _swallow = total;
            _afterSwallow = Line("SERVER_ERROR object too large for cache", noReply, counted: true);
            return null;
        }

        var refused = DataBlock(key, length, noReply, ref rest, out incomplete, out var keyText, out var value);
        if (refused is not null || incomplete)
        {
            return refused;
        }

        var flagsText = ((uint)flags).ToString(CultureInfo.InvariantCulture);
        var exptimeText = exptime.ToString(CultureInfo.InvariantCulture);
        commands.Add(isCas
            ? ["MCSTORE", keyText, value, mode, flagsText, exptimeText, unique.ToString(CultureInfo.InvariantCulture)]
            : ["MCSTORE", keyText, value, mode, flagsText, exptimeText]);
        return new MemcachedStep { Kind = MemcachedStepKind.Store, First = commands.Count - 1, Count = 1, NoReply = noReply };
    }

    /// <summary>
    /// ms: the line is checked as memcached checks it (errors before the data length is known leave the data
    /// to be read as commands; later ones drop the data block), then the data block is read like a store's.
    /// </summary>
    private MemcachedStep? MetaStore(string[] words, ref ReadOnlySequence<byte> rest, List<string[]> commands, out bool incomplete)
    {
        incomplete = false;
        if (words.Length == 2 || words[1].Length > MemcachedOptions.MaxKeyBytes)
        {
            return Line(BadFormat);
        }

        if (words.Length + 1 > MetaParser.MaxTokens)
        {
            return Line("CLIENT_ERROR options flags too long");
        }

        if (!SafeStrtol(words[2], out var length) || length < 0 || length > int.MaxValue - 2)
        {
            return Line(BadFormat);
        }

        var total = length + 2L;
        var step = MetaParser.Store(words, out var error, out var key, out var echoKey, out var mode, out var flags, out var exptime, out var unique, out var invalidate);
        if (error is null && length > options.MaxItemSize)
        {
            error = "SERVER_ERROR object too large for cache";
            if (mode == "set")
            {
                commands.Add(["DEL", KeyText(key)]);
            }
        }

        if (error is not null)
        {
            _swallow = total;
            _afterSwallow = Line(error, counted: true);
            return null;
        }

        var refused = DataBlock(key, length, noReply: false, ref rest, out incomplete, out var keyText, out var value);
        if (refused is not null || incomplete)
        {
            return refused;
        }

        string[] store = ["MCMETASTORE", keyText, value, mode, flags.ToString(CultureInfo.InvariantCulture), exptime.ToString(CultureInfo.InvariantCulture), unique is { } u ? u.ToString(CultureInfo.InvariantCulture) : "-"];
        var marks = (invalidate ? "I" : string.Empty) + (MetaParser.Has(step, 'b') ? "B" : string.Empty);
        commands.Add(marks.Length > 0 ? [.. store, marks] : store);
        return new MemcachedStep { Kind = MemcachedStepKind.Meta, Meta = 's', MetaFlags = step, Keys = [echoKey, key], First = commands.Count - 1, Count = 1, NoReply = MetaParser.Has(step, 'q') };
    }

    /// <summary>
    /// A storage command's data block of <paramref name="length"/> bytes and its \r\n, taken from <paramref name="rest"/>:
    /// null with the key and value as cache strings (<see cref="CacheBytes"/>), null and <paramref name="incomplete"/>
    /// when more bytes are needed, or the step that refuses a block without its \r\n.
    /// </summary>
    private static MemcachedStep? DataBlock(string key, int length, bool noReply, ref ReadOnlySequence<byte> rest, out bool incomplete, out string keyText, out string value)
    {
        keyText = value = string.Empty;
        incomplete = rest.Length < length + 2L;
        if (incomplete)
        {
            return null;
        }

        var data = rest.Slice(0, length + 2L);
        rest = rest.Slice(length + 2L);
        Span<byte> end = stackalloc byte[2];
        data.Slice(length).CopyTo(end);
        if (end[0] != '\r' || end[1] != '\n')
        {
            return Line(BadChunk, noReply, counted: true);
        }

        var valueBytes = data.Slice(0, length);
        keyText = KeyText(key);
        value = valueBytes.IsSingleSegment ? CacheBytes.FromBytes(valueBytes.FirstSpan) : CacheBytes.FromBytes(valueBytes.ToArray());
        return null;
    }

    private static MemcachedStep Incr(string[] words, List<string[]> commands)
    {
        var noReply = words[^1] == "noreply";
        if (words[1].Length > MemcachedOptions.MaxKeyBytes)
        {
            return Line(BadFormat, noReply);
        }

        if (!CacheKeyspace.TryParseMemcachedNumber(words[2], out var delta))
        {
            return Line(BadDelta, noReply);
        }

        var key = KeyText(words[1]);
        commands.Add(["MCINCR", key, words[0], delta.ToString(CultureInfo.InvariantCulture)]);
        return new MemcachedStep { Kind = MemcachedStepKind.Incr, First = commands.Count - 1, Count = 1, NoReply = noReply };
    }

    private static MemcachedStep Delete(string[] words, List<string[]> commands)
    {
        var noReply = false;
        if (words.Length > 2)
        {
            var holdIsZero = words[2] == "0";
            noReply = words[^1] == "noreply";
            var valid = (words.Length == 3 && (holdIsZero || noReply)) || (words.Length == 4 && holdIsZero && noReply);
            if (!valid)
            {
                return Line(BadDelete, noReply);
            }
        }

        if (words[1].Length > MemcachedOptions.MaxKeyBytes)
        {
            return Line(BadFormat, noReply);
        }

        var key = KeyText(words[1]);
        commands.Add(["DEL", key]);
        return new MemcachedStep { Kind = MemcachedStepKind.Delete, First = commands.Count - 1, Count = 1, NoReply = noReply };
    }

    private static MemcachedStep Touch(string[] words, List<string[]> commands)
    {
        var noReply = words[^1] == "noreply";
        if (words[1].Length > MemcachedOptions.MaxKeyBytes)
        {
            return Line(BadFormat, noReply);
        }

        if (!SafeStrtol(words[2], out var exptime))
        {
            return Line(BadExptime, noReply);
        }

        var key = KeyText(words[1]);
        commands.Add(["MCTOUCH", key, exptime.ToString(CultureInfo.InvariantCulture)]);
        return new MemcachedStep { Kind = MemcachedStepKind.Touch, First = commands.Count - 1, Count = 1, NoReply = noReply };
    }

    private static MemcachedStep Flush(string[] words, List<string[]> commands)
    {
        var noReply = words.Length > 1 && words[^1] == "noreply";
        var exptime = 0;
        if (words.Length != (noReply ? 2 : 1) && !SafeStrtol(words[1], out exptime))
        {
            return Line(BadExptime, noReply);
        }

        var delay = TimeSpan.Zero;
        if (exptime > CacheKeyspace.MemcachedRelativeLimitSeconds)
        {
            delay = DateTimeOffset.FromUnixTimeSeconds(exptime) - DateTimeOffset.UtcNow;
        }
        else if (exptime > 0)
        {
            delay = TimeSpan.FromSeconds(exptime);
        }

        if (delay > TimeSpan.Zero)
        {
            return new MemcachedStep { Kind = MemcachedStepKind.Flush, Delay = delay, NoReply = noReply };
        }

        commands.Add(["FLUSHALL"]);
        return new MemcachedStep { Kind = MemcachedStepKind.Flush, First = commands.Count - 1, Count = 1, NoReply = noReply };
    }

    /// <summary>
    /// The cache key of a memcached key given as bytes (one char per byte): <see cref="CacheBytes.FromLatin1"/>, so
    /// UTF-8 text is its own key (the same item over RESP and the SDK) and any other bytes, which memcached accepts
    /// as well, are escaped. Different byte strings always give different keys.
    /// </summary>
    internal static string KeyText(string bytes) => CacheBytes.FromLatin1(bytes);

    /// <summary>memcached's <c>safe_strtol</c>: an optional sign and decimal digits in 32 bits, the whole word.</summary>
    internal static bool SafeStrtol(string text, out int value) =>
        int.TryParse(text, NumberStyles.AllowLeadingSign, CultureInfo.InvariantCulture, out value);
}
