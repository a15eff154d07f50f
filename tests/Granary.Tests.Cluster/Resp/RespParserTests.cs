using System.Buffers;
using System.Text;
using Granary.Caching;
using Granary.Server.Resp;

namespace Granary.Tests.Cluster.Resp;

/// <summary>
/// The request parser on its own: a frame whole in one buffer segment takes the parser's fast path, the
/// same frame cut into one-byte segments the general one; both must read every frame alike.
/// </summary>
public sealed class RespParserTests
{
    private static readonly RespOptions Options = new() { MaxBulkLength = 64, MaxMultibulkCount = 8, MaxRequestBytes = 4096 };

    [Theory]
    [InlineData("GET")]
    [InlineData("get")]
    [InlineData("gEt")]
    [InlineData("hincrbyfloat")]
    public void A_known_command_name_in_any_case_is_the_command_tables_own_string(string sent)
    {
        var parsed = ParseOne(Frame(sent, "k"), segmented: false);

        var name = parsed.Command.Arguments[0];
        Assert.Same(CacheCommandTable.Find(sent)!.Name, name);
        Assert.Equal("k", parsed.Command.Arguments[1]);
    }

    [Theory]
    [InlineData("FOO")]
    [InlineData("gét")]
    [InlineData("GET\u0000")]
    public void Another_name_keeps_its_bytes(string sent)
    {
        var parsed = ParseOne(Frame(sent), segmented: false);

        Assert.Equal(CacheBytes.FromBytes(Encoding.UTF8.GetBytes(sent)), parsed.Command.Arguments[0]);
    }

    [Fact]
    public void Whole_and_segmented_frames_parse_alike()
    {
        // Frames near the edges of the fast path: numbers with signs, leading zeros and many digits,
        // lengths at and over the limits, missing CRLFs, empty frames, and well-formed commands.
        string[] headers = ["*2", "*02", "*+2", "*-1", "*0", "*9", "*99999999999999999999", "*2x", "*", "*8"];
        string[] bulks = ["$3\r\nGET", "$03\r\nset", "$+3\r\nGET", "$-1", "$64\r\n" + new string('v', 64), "$65\r\n" + new string('v', 65), "$1\r\nk", "$1\r\nkk", "$0\r\n", "$18446744073709551616\r\nx", "$3\r\n\u00e9t"];
        var random = new Random(21);
        for (var i = 0; i < 3_000; i++)
        {
            var frame = new StringBuilder(headers[random.Next(headers.Length)]).Append("\r\n");
            var count = random.Next(0, 4);
            for (var b = 0; b < count; b++)
            {
                frame.Append(bulks[random.Next(bulks.Length)]).Append("\r\n");
            }

            if (random.Next(4) == 0)
            {
                frame.Length -= random.Next(1, frame.Length);
            }

            var bytes = Encoding.UTF8.GetBytes(frame.ToString());
            var whole = ParseOne(bytes, segmented: false);
            var segmented = ParseOne(bytes, segmented: true);

            Assert.True(
                whole.Status == segmented.Status && whole.Consumed == segmented.Consumed && whole.Error == segmented.Error
                    && (whole.Command.Arguments ?? []).SequenceEqual(segmented.Command.Arguments ?? []),
                $"frame {Printable(bytes)}: whole {Describe(whole)}, segmented {Describe(segmented)}");
        }
    }

    private static (RespParseStatus Status, RespCommand Command, string? Error, long Consumed) ParseOne(byte[] bytes, bool segmented)
    {
        var buffer = segmented ? OneByteSegments(bytes) : new ReadOnlySequence<byte>(bytes);
        var before = buffer.Length;
        var status = new RespParser(Options).TryParse(ref buffer, authenticated: true, out var command, out var error);
        return (status, command, error, before - buffer.Length);
    }

    private static byte[] Frame(params string[] arguments)
    {
        var frame = new StringBuilder().Append('*').Append(arguments.Length).Append("\r\n");
        foreach (var argument in arguments)
        {
            frame.Append('$').Append(Encoding.UTF8.GetByteCount(argument)).Append("\r\n").Append(argument).Append("\r\n");
        }

        return Encoding.UTF8.GetBytes(frame.ToString());
    }

    private static ReadOnlySequence<byte> OneByteSegments(byte[] bytes)
    {
        if (bytes.Length == 0)
        {
            return ReadOnlySequence<byte>.Empty;
        }

        var first = new Segment(bytes.AsMemory(0, 1), 0);
        var last = first;
        for (var i = 1; i < bytes.Length; i++)
        {
            last = last.Append(bytes.AsMemory(i, 1));
        }

        return new ReadOnlySequence<byte>(first, 0, last, 1);
    }

    private static string Describe((RespParseStatus Status, RespCommand Command, string? Error, long Consumed) parsed) =>
        $"{parsed.Status} consumed {parsed.Consumed} error '{parsed.Error}' [{string.Join(", ", parsed.Command.Arguments ?? [])}]";

    private static string Printable(byte[] bytes) => Encoding.UTF8.GetString(bytes).Replace("\r", "\\r", StringComparison.Ordinal).Replace("\n", "\\n", StringComparison.Ordinal);

    private sealed class Segment : ReadOnlySequenceSegment<byte>
    {
        public Segment(ReadOnlyMemory<byte> memory, long runningIndex)
        {
            Memory = memory;
            RunningIndex = runningIndex;
        }

        public Segment Append(ReadOnlyMemory<byte> memory)
        {
            var next = new Segment(memory, RunningIndex + Memory.Length);
            Next = next;
            return next;
        }
    }
}
