using System.Buffers;
using System.Buffers.Text;
using System.Text;
using Granary.Caching;

namespace Granary.Server.Resp;

/// <summary>How a reply is typed in RESP3 (RESP2 has only the plain shapes).</summary>
internal enum Resp3Shape : byte
{
    /// <summary>As in RESP2 (nil becomes RESP3's null).</summary>
    Plain,

    /// <summary>A flat array of field, value pairs sent as a map (HGETALL, CONFIG GET).</summary>
    Map,

    /// <summary>An array sent as a set (SMEMBERS, SINTER, SUNION, SDIFF).</summary>
    Set,

    /// <summary>A bulk number sent as a double (ZSCORE, ZINCRBY, ZADD INCR).</summary>
    Double,

    /// <summary>A flat member, score array sent as pairs of [member, double] (WITHSCORES).</summary>
    ScorePairs,

    /// <summary>One flat [member, score] sent with the score as a double (ZPOPMIN/ZPOPMAX without a count).</summary>
    FlatScore,

    /// <summary>[key, [[member, score], ...]] sent with the scores as doubles (ZMPOP).</summary>
    KeyedScores,
}

/// <summary>Writes replies in RESP2 or RESP3, byte for byte as <c>redis-server</c> writes them.</summary>
internal static class RespWriter
{
    /// <summary>Longest bulk text written in one piece of the output when it is ASCII.</summary>
    private const int MaxShortBulk = 256;

    /// <summary>The RESP3 shape of the reply to <paramref name="command"/>, as Redis types it.</summary>
    public static Resp3Shape ShapeOf(string[] command)
    {
        if (command.Length == 0)
        {
            return Resp3Shape.Plain;
        }

        var name = command[0];
        if (Is(name, "HGETALL"))
        {
            return Resp3Shape.Map;
        }

        if (Is(name, "SMEMBERS") || Is(name, "SINTER") || Is(name, "SUNION") || Is(name, "SDIFF"))
        {
            return Resp3Shape.Set;
        }

        if (Is(name, "ZSCORE") || Is(name, "ZINCRBY"))
        {
            return Resp3Shape.Double;
        }

        if (Is(name, "ZADD"))
        {
            return command.Skip(2).Any(a => Is(a, "INCR")) ? Resp3Shape.Double : Resp3Shape.Plain;
        }

        if (Is(name, "ZRANGE") || Is(name, "ZRANGEBYSCORE") || Is(name, "ZREVRANGE") || Is(name, "ZREVRANGEBYSCORE"))
        {
            return command.Skip(4).Any(a => Is(a, "WITHSCORES")) ? Resp3Shape.ScorePairs : Resp3Shape.Plain;
        }

        if (Is(name, "ZPOPMIN") || Is(name, "ZPOPMAX"))
        {
            // Without a count Redis sends one flat [member, score]; with a count, [member, score] pairs.
            return command.Length > 2 ? Resp3Shape.ScorePairs : Resp3Shape.FlatScore;
        }

        return Is(name, "ZMPOP") ? Resp3Shape.KeyedScores : Resp3Shape.Plain;
    }

    /// <summary>Writes <paramref name="reply"/> in <paramref name="protocol"/> (2 or 3), typed by <paramref name="shape"/> in RESP3.</summary>
    public static void Write(IBufferWriter<byte> output, CacheReply reply, int protocol, Resp3Shape shape = Resp3Shape.Plain)
    {
        if (protocol >= 3 && !reply.IsError && shape != Resp3Shape.Plain && !reply.IsNil)
        {
            switch (shape)
            {
                case Resp3Shape.Double when reply.Kind == CacheReplyKind.Bulk:
                    Line(output, (byte)',', reply.Text!);
                    return;
                case Resp3Shape.Map when reply.Kind == CacheReplyKind.Array:
                    Header(output, (byte)'%', reply.Items!.Count / 2);
                    WriteItems(output, reply.Items, protocol);
                    return;
                case Resp3Shape.Set when reply.Kind == CacheReplyKind.Array:
                    Header(output, (byte)'~', reply.Items!.Count);
                    WriteItems(output, reply.Items, protocol);
                    return;
                case Resp3Shape.FlatScore when reply.Kind == CacheReplyKind.Array && reply.Items!.Count == 2:
                    Header(output, (byte)'*', 2);
                    Write(output, reply.Items[0], protocol);
                    Write(output, reply.Items[1], protocol, Resp3Shape.Double);
                    return;
                case Resp3Shape.ScorePairs when reply.Kind == CacheReplyKind.Array:
                    Header(output, (byte)'*', reply.Items!.Count / 2);
                    for (var i = 0; i + 1 < reply.Items.Count; i += 2)
                    {
                        Header(output, (byte)'*', 2);
                        Write(output, reply.Items[i], protocol);
                        Write(output, reply.Items[i + 1], protocol, Resp3Shape.Double);
                    }

                    return;
                case Resp3Shape.KeyedScores when reply.Kind == CacheReplyKind.Array && reply.Items!.Count == 2 && reply.Items[1].Items is { } pairs:
                    Header(output, (byte)'*', 2);
                    Write(output, reply.Items[0], protocol);
                    Header(output, (byte)'*', pairs.Count);
                    foreach (var pair in pairs)
                    {
                        Write(output, pair, protocol, Resp3Shape.FlatScore);
                    }

                    return;
            }
        }

        switch (reply.Kind)
        {
            case CacheReplyKind.Status when ReferenceEquals(reply, CacheReply.Ok):
                Raw(output, "+OK\r\n"u8);
                break;
            case CacheReplyKind.Status:
                Line(output, (byte)'+', reply.Text ?? string.Empty);
                break;
            case CacheReplyKind.Error:
                Line(output, (byte)'-', reply.Text ?? "ERR");
                break;
            case CacheReplyKind.Integer:
                Header(output, (byte)':', reply.Integer);
                break;
            case CacheReplyKind.Bulk when reply.Text is null:
                Raw(output, protocol >= 3 ? "_\r\n"u8 : "$-1\r\n"u8);
                break;
            case CacheReplyKind.Bulk:
                Bulk(output, reply.Text);
                break;
            case CacheReplyKind.Array when reply.Items is null:
                Raw(output, protocol >= 3 ? "_\r\n"u8 : "*-1\r\n"u8);
                break;
            default:
                Header(output, (byte)'*', reply.Items!.Count);
                WriteItems(output, reply.Items, protocol);
                break;
        }
    }

    /// <summary>A bulk string: the bytes <paramref name="text"/> stands for (<see cref="CacheBytes"/>).</summary>
    public static void Bulk(IBufferWriter<byte> output, string text)
    {
        if (text.Length <= MaxShortBulk && Ascii.IsValid(text))
        {
            // Short ASCII text, the common value: header, bytes and CRLF in one piece of the output.
            var whole = output.GetSpan(MaxShortBulk + 16);
            whole[0] = (byte)'$';
            Utf8Formatter.TryFormat(text.Length, whole[1..], out var digits);
            whole[1 + digits] = (byte)'\r';
            whole[2 + digits] = (byte)'\n';
            var at = digits + 3;
            Ascii.FromUtf16(text, whole[at..], out _);
            at += text.Length;
            whole[at] = (byte)'\r';
            whole[at + 1] = (byte)'\n';
            output.Advance(at + 2);
            return;
        }

        var length = CacheBytes.ByteCount(text);
        Header(output, (byte)'$', length);
        var span = output.GetSpan(length + 2);
        CacheBytes.GetBytes(text, span);
        span[length] = (byte)'\r';
        span[length + 1] = (byte)'\n';
        output.Advance(length + 2);
    }

    /// <summary><c>prefix</c> then a number then CRLF (<c>*3</c>, <c>$5</c>, <c>:42</c>, <c>%2</c>).</summary>
    public static void Header(IBufferWriter<byte> output, byte prefix, long value)
    {
        var span = output.GetSpan(24);
        span[0] = prefix;
        Utf8Formatter.TryFormat(value, span[1..], out var written);
        span[1 + written] = (byte)'\r';
        span[2 + written] = (byte)'\n';
        output.Advance(written + 3);
    }

    /// <summary>Bytes as they are.</summary>
    public static void Raw(IBufferWriter<byte> output, ReadOnlySpan<byte> bytes)
    {
        bytes.CopyTo(output.GetSpan(bytes.Length));
        output.Advance(bytes.Length);
    }

    /// <summary>A line such as <c>+OK</c> or <c>-ERR ...</c>; CR and LF inside become spaces, as Redis does.</summary>
    private static void Line(IBufferWriter<byte> output, byte prefix, string text)
    {
        if (text.AsSpan().IndexOfAny('\r', '\n') >= 0)
        {
            text = text.Replace('\r', ' ').Replace('\n', ' ');
        }

        var length = Encoding.UTF8.GetByteCount(text);
        var span = output.GetSpan(length + 3);
        span[0] = prefix;
        Encoding.UTF8.GetBytes(text, span[1..]);
        span[length + 1] = (byte)'\r';
        span[length + 2] = (byte)'\n';
        output.Advance(length + 3);
    }

    private static void WriteItems(IBufferWriter<byte> output, IReadOnlyList<CacheReply> items, int protocol)
    {
        foreach (var item in items)
        {
            Write(output, item, protocol);
        }
    }

    private static bool Is(string text, string name) => string.Equals(text, name, StringComparison.OrdinalIgnoreCase);
}
