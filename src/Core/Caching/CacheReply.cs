using System.Globalization;
using System.Text;

namespace Granary.Caching;

/// <summary>The shape of a <see cref="CacheReply"/>, as in RESP2.</summary>
public enum CacheReplyKind : byte
{
    /// <summary>A simple status string such as <c>OK</c>.</summary>
    Status = 1,

    /// <summary>An error; <see cref="CacheReply.Text"/> holds Redis's text (e.g. <c>WRONGTYPE ...</c>).</summary>
    Error = 2,

    /// <summary>A 64-bit integer.</summary>
    Integer = 3,

    /// <summary>A bulk string; a null <see cref="CacheReply.Text"/> is the nil bulk.</summary>
    Bulk = 4,

    /// <summary>An array; null <see cref="CacheReply.Items"/> is the nil array.</summary>
    Array = 5,
}

/// <summary>
/// A reply in the RESP2 model (status, error, integer, bulk, array), the same value Redis would send,
/// so the engine can be compared reply for reply with <c>redis-server</c>.
/// </summary>
/// <example><code>
/// var reply = keyspace.Execute(["SET", "k", "v", "EX", "10"]);   // +OK
/// </code></example>
public sealed class CacheReply : IEquatable<CacheReply>
{
    private CacheReply(CacheReplyKind kind, string? text, long integer, CacheReply[]? items, long? movedRingVersion = null)
    {
        Kind = kind;
        Text = text;
        Integer = integer;
        Items = items;
        MovedRingVersion = movedRingVersion;
    }

    /// <summary><c>+OK</c>.</summary>
    public static CacheReply Ok { get; } = new(CacheReplyKind.Status, "OK", 0, null);

    /// <summary>The nil bulk string.</summary>
    public static CacheReply Nil { get; } = new(CacheReplyKind.Bulk, null, 0, null);

    /// <summary>The nil array.</summary>
    public static CacheReply NilArray { get; } = new(CacheReplyKind.Array, null, 0, null);

    /// <summary>The empty array.</summary>
    public static CacheReply EmptyArray { get; } = new(CacheReplyKind.Array, null, 0, []);

    /// <summary><c>:0</c>.</summary>
    public static CacheReply Zero { get; } = new(CacheReplyKind.Integer, null, 0, null);

    /// <summary><c>:1</c>.</summary>
    public static CacheReply One { get; } = new(CacheReplyKind.Integer, null, 1, null);

    /// <summary>What kind of reply this is.</summary>
    public CacheReplyKind Kind { get; }

    /// <summary>Status text, error text or bulk value (null for nil).</summary>
    public string? Text { get; }

    /// <summary>The integer of an integer reply.</summary>
    public long Integer { get; }

    /// <summary>The elements of an array reply (null for the nil array).</summary>
    public IReadOnlyList<CacheReply>? Items { get; }

    /// <summary>True for an error reply.</summary>
    public bool IsError => Kind == CacheReplyKind.Error;

    /// <summary>
    /// The ring version a shard asks for when it refused a command routed by an older ring (a reshard moved
    /// keys away from it): the caller refreshes its ring and sends the command again. Null for every other reply.
    /// </summary>
    public long? MovedRingVersion { get; }

    /// <summary>True for a <see cref="Moved"/> reply: nothing was executed, route again on a newer ring.</summary>
    public bool IsMoved => MovedRingVersion is not null;

    /// <summary>True for nil bulk or nil array.</summary>
    public bool IsNil => (Kind == CacheReplyKind.Bulk && Text is null) || (Kind == CacheReplyKind.Array && Items is null);

    /// <summary>A status reply.</summary>
    public static CacheReply Status(string text) => text == "OK" ? Ok : new(CacheReplyKind.Status, text, 0, null);

    /// <summary>An error reply with Redis's text (<c>ERR ...</c>, <c>WRONGTYPE ...</c>).</summary>
    public static CacheReply Error(string text) => new(CacheReplyKind.Error, text, 0, null);

    /// <summary>
    /// The refusal of a command routed by a ring older than <paramref name="ringVersion"/>. An error reply
    /// (as Redis Cluster's MOVED is) whose text is <c>MOVED ring version N</c> for whoever prints it, and
    /// typed through <see cref="MovedRingVersion"/> for the client that retries it.
    /// </summary>
    public static CacheReply Moved(long ringVersion) =>
        new(CacheReplyKind.Error, string.Create(CultureInfo.InvariantCulture, $"MOVED ring version {ringVersion}"), 0, null, ringVersion);

    /// <summary>An integer reply.</summary>
    public static CacheReply Int(long value) => value switch
    {
        0 => Zero,
        1 => One,
        _ => new(CacheReplyKind.Integer, null, value, null),
    };

    /// <summary>A bulk string reply (null gives nil).</summary>
    public static CacheReply Bulk(string? value) => value is null ? Nil : new(CacheReplyKind.Bulk, value, 0, null);

    /// <summary>An array reply (null gives the nil array).</summary>
    public static CacheReply Array(CacheReply[]? items) => items is null ? NilArray : items.Length == 0 ? EmptyArray : new(CacheReplyKind.Array, null, 0, items);

    /// <summary>An array of bulk strings.</summary>
    public static CacheReply BulkArray(IEnumerable<string> values) => Array([.. values.Select(Bulk)]);

    /// <summary>Rebuilds a reply from its parts (for converters of other formats: a status without text is empty, an error without text is <c>ERR</c>).</summary>
    public static CacheReply FromParts(CacheReplyKind kind, string? text, long integer, CacheReply[]? items) => kind switch
    {
        CacheReplyKind.Status => Status(text ?? string.Empty),
        CacheReplyKind.Error => Error(text ?? "ERR"),
        CacheReplyKind.Integer => Int(integer),
        CacheReplyKind.Bulk => Bulk(text),
        CacheReplyKind.Array => Array(items),
        _ => throw new ArgumentOutOfRangeException(nameof(kind), kind, "unknown reply kind"),
    };

    /// <inheritdoc/>
    public bool Equals(CacheReply? other)
    {
        if (other is null || other.Kind != Kind)
        {
            return false;
        }

        switch (Kind)
        {
            case CacheReplyKind.Integer:
                return Integer == other.Integer;
            case CacheReplyKind.Array:
                if (Items is null || other.Items is null)
                {
                    return Items is null && other.Items is null;
                }

                if (Items.Count != other.Items.Count)
                {
                    return false;
                }

                for (var i = 0; i < Items.Count; i++)
                {
                    if (!Items[i].Equals(other.Items[i]))
                    {
                        return false;
                    }
                }

                return true;
            default:
                return string.Equals(Text, other.Text, StringComparison.Ordinal);
        }
    }

    /// <inheritdoc/>
    public override bool Equals(object? obj) => Equals(obj as CacheReply);

    /// <inheritdoc/>
    public override int GetHashCode() => HashCode.Combine(Kind, Text, Integer, Items?.Count);

    /// <summary>Renders the reply the way <c>redis-cli</c> does.</summary>
    public override string ToString()
    {
        var builder = new StringBuilder();
        Render(builder, string.Empty);
        return builder.ToString();
    }

    /// <summary>Bytes that are not text, quoted as redis-cli prints them: <c>"\xff\x00z\n"</c>.</summary>
    private static void AppendBytes(StringBuilder builder, byte[] bytes)
    {
        builder.Append('"');
        foreach (var b in bytes)
        {
            _ = b switch
            {
                (byte)'\\' => builder.Append("\\\\"),
                (byte)'"' => builder.Append("\\\""),
                (byte)'\n' => builder.Append("\\n"),
                (byte)'\r' => builder.Append("\\r"),
                (byte)'\t' => builder.Append("\\t"),
                (byte)'\a' => builder.Append("\\a"),
                (byte)'\b' => builder.Append("\\b"),
                >= 0x20 and < 0x7F => builder.Append((char)b),
                _ => builder.Append(CultureInfo.InvariantCulture, $"\\x{b:x2}"),
            };
        }

        builder.Append('"');
    }

    private void Render(StringBuilder builder, string indent)
    {
        switch (Kind)
        {
            case CacheReplyKind.Status:
                builder.Append(Text);
                break;
            case CacheReplyKind.Error:
                builder.Append("(error) ").Append(Text);
                break;
            case CacheReplyKind.Integer:
                builder.Append("(integer) ").Append(Integer.ToString(CultureInfo.InvariantCulture));
                break;
            case CacheReplyKind.Bulk when Text is not null && CacheBytes.IsEscaped(Text):
                AppendBytes(builder, CacheBytes.GetBytes(Text));
                break;
            case CacheReplyKind.Bulk:
                builder.Append(Text is null ? "(nil)" : "\"" + Text + "\"");
                break;
            case CacheReplyKind.Array when Items is null:
                builder.Append("(nil)");
                break;
            case CacheReplyKind.Array when Items!.Count == 0:
                builder.Append("(empty array)");
                break;
            default:
                var width = Items!.Count.ToString(CultureInfo.InvariantCulture).Length;
                for (var i = 0; i < Items.Count; i++)
                {
                    if (i > 0)
                    {
                        builder.Append('\n').Append(indent);
                    }

                    var label = (i + 1).ToString(CultureInfo.InvariantCulture).PadLeft(width) + ") ";
                    builder.Append(label);
                    Items[i].Render(builder, indent + new string(' ', label.Length));
                }

                break;
        }
    }
}
