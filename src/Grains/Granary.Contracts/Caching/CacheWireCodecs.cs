using System.Buffers;
using System.Diagnostics.CodeAnalysis;
using System.Text;
using Orleans.Serialization;
using Orleans.Serialization.Buffers;
using Orleans.Serialization.Cloning;
using Orleans.Serialization.Codecs;
using Orleans.Serialization.WireProtocol;

namespace Granary.Caching;

/// <summary>
/// The compact wire form of the cache's hot path: a shard call's command batch (<c>string[][]</c>), its reply
/// batch (<see cref="CacheReply"/><c>[]</c>) and a single <see cref="CacheReply"/> each travel as one
/// length-prefixed block with no per-object field headers or reference tracking. Replies are immutable,
/// so a reply that appears twice is simply written twice.
/// </summary>
/// <remarks>
/// A block is checked as it is read: every count must fit in the bytes left in its block, replies nest at
/// most <see cref="MaxDepth"/> deep, and the block must be consumed exactly. A malformed block fails the
/// message with a <see cref="SerializerException"/>; it never allocates more than the block's own size.
/// </remarks>
internal static class CacheWire
{
    /// <summary>The deepest nesting of array replies a block may hold (Redis replies nest a few levels at most).</summary>
    public const int MaxDepth = 32;

    private const byte NullTag = 0;
    private const byte StatusTag = 1;
    private const byte ErrorTag = 2;
    private const byte IntegerTag = 3;
    private const byte BulkTag = 4;
    private const byte ArrayTag = 5;
    private const byte NilBulkTag = 6;
    private const byte NilArrayTag = 7;
    private const byte MovedTag = 8;
    private const byte OkTag = 9;

    public static int Size(CacheReply? reply, int depth = 0)
    {
        if (depth > MaxDepth)
        {
            throw new SerializerException($"a cache reply nests more than {MaxDepth} arrays deep");
        }

        if (reply is null)
        {
            return 1;
        }

        if (reply.MovedRingVersion is { } ring)
        {
            return 1 + VarSize(ZigZag(ring));
        }

        if (IsOk(reply))
        {
            return 1;
        }

        switch (reply.Kind)
        {
            case CacheReplyKind.Integer:
                return 1 + VarSize(ZigZag(reply.Integer));
            case CacheReplyKind.Array when reply.Items is null:
                return 1;
            case CacheReplyKind.Array:
                var size = 1 + VarSize((uint)reply.Items.Count);
                for (var i = 0; i < reply.Items.Count; i++)
                {
                    size += Size(reply.Items[i], depth + 1);
                }

                return size;
            case CacheReplyKind.Bulk when reply.Text is null:
                return 1;
            default:
                // As written: a status or error without text is written with empty text.
                return 1 + TextSize(reply.Text ?? string.Empty);
        }
    }

    public static int Size(CacheReply?[] replies)
    {
        var size = VarSize((uint)replies.Length);
        foreach (var reply in replies)
        {
            size += Size(reply);
        }

        return size;
    }

    public static void Write<TBufferWriter>(ref Writer<TBufferWriter> writer, CacheReply? reply)
        where TBufferWriter : IBufferWriter<byte>
    {
        if (reply is null)
        {
            writer.WriteByte(NullTag);
            return;
        }

        if (reply.MovedRingVersion is { } ring)
        {
            writer.WriteByte(MovedTag);
            writer.WriteVarInt64(ring);
            return;
        }

        if (IsOk(reply))
        {
            // The most common reply of all (every SET): one byte, and the reader hands back the shared instance.
            writer.WriteByte(OkTag);
            return;
        }

        switch (reply.Kind)
        {
            case CacheReplyKind.Integer:
                writer.WriteByte(IntegerTag);
                writer.WriteVarInt64(reply.Integer);
                return;
            case CacheReplyKind.Array when reply.Items is null:
                writer.WriteByte(NilArrayTag);
                return;
            case CacheReplyKind.Array:
                writer.WriteByte(ArrayTag);
                writer.WriteVarUInt32((uint)reply.Items.Count);
                for (var i = 0; i < reply.Items.Count; i++)
                {
                    Write(ref writer, reply.Items[i]);
                }

                return;
            case CacheReplyKind.Bulk when reply.Text is null:
                writer.WriteByte(NilBulkTag);
                return;
            default:
                writer.WriteByte(reply.Kind switch
                {
                    CacheReplyKind.Status => StatusTag,
                    CacheReplyKind.Error => ErrorTag,
                    _ => BulkTag,
                });
                WriteText(ref writer, reply.Text ?? string.Empty);
                return;
        }
    }

    public static CacheReply? Read<TInput>(ref Reader<TInput> reader, long end, int depth = 0)
    {
        if (depth > MaxDepth)
        {
            throw new SerializerException($"a cache reply nests more than {MaxDepth} arrays deep");
        }

        Need(ref reader, end, 1);
        var tag = reader.ReadByte();
        switch (tag)
        {
            case NullTag:
                return null;
            case OkTag:
                return CacheReply.Ok;
            case StatusTag:
                return CacheReply.Status(ReadText(ref reader, end)!);
            case ErrorTag:
                return CacheReply.Error(ReadText(ref reader, end)!);
            case BulkTag:
                return CacheReply.Bulk(ReadText(ref reader, end));
            case NilBulkTag:
                return CacheReply.Nil;
            case NilArrayTag:
                return CacheReply.NilArray;
            case IntegerTag:
                return CacheReply.Int(reader.ReadVarInt64());
            case MovedTag:
                return CacheReply.Moved(reader.ReadVarInt64());
            case ArrayTag:
                var count = ReadCount(ref reader, end);
                var items = new CacheReply[count];
                for (var i = 0; i < count; i++)
                {
                    items[i] = Read(ref reader, end, depth + 1) ?? throw new SerializerException("a cache reply array holds a null item");
                }

                return CacheReply.Array(items);
            default:
                throw new SerializerException($"unknown cache reply tag {tag}");
        }
    }

    public static void Write<TBufferWriter>(ref Writer<TBufferWriter> writer, CacheReply?[] replies)
        where TBufferWriter : IBufferWriter<byte>
    {
        writer.WriteVarUInt32((uint)replies.Length);
        foreach (var reply in replies)
        {
            Write(ref writer, reply);
        }
    }

    public static CacheReply?[] ReadReplies<TInput>(ref Reader<TInput> reader, long end)
    {
        var count = ReadCount(ref reader, end);
        var replies = new CacheReply?[count];
        for (var i = 0; i < count; i++)
        {
            replies[i] = Read(ref reader, end);
        }

        return replies;
    }

    public static int Size(string?[]?[] commands)
    {
        var size = VarSize((uint)commands.Length);
        foreach (var command in commands)
        {
            if (command is null)
            {
                size++;
                continue;
            }

            size += VarSize((uint)command.Length + 1);
            foreach (var word in command)
            {
                size += word is null ? 1 : TextSize(word, offset: 1);
            }
        }

        return size;
    }

    public static void Write<TBufferWriter>(ref Writer<TBufferWriter> writer, string?[]?[] commands)
        where TBufferWriter : IBufferWriter<byte>
    {
        // Counts and lengths are stored plus one, so that zero stands for null.
        writer.WriteVarUInt32((uint)commands.Length);
        foreach (var command in commands)
        {
            if (command is null)
            {
                writer.WriteVarUInt32(0);
                continue;
            }

            writer.WriteVarUInt32((uint)command.Length + 1);
            foreach (var word in command)
            {
                if (word is null)
                {
                    writer.WriteVarUInt32(0);
                }
                else
                {
                    WriteText(ref writer, word, offset: 1);
                }
            }
        }
    }

    public static string?[]?[] ReadCommands<TInput>(ref Reader<TInput> reader, long end)
    {
        var count = ReadCount(ref reader, end);
        var commands = new string?[]?[count];
        for (var i = 0; i < count; i++)
        {
            var words = ReadCount(ref reader, end, offset: 1);
            if (words < 0)
            {
                continue;
            }

            var command = new string?[words];
            for (var w = 0; w < words; w++)
            {
                command[w] = ReadText(ref reader, end, offset: 1);
            }

            commands[i] = command;
        }

        return commands;
    }

    /// <summary>Reads a block's length and returns the reader position where the block ends.</summary>
    public static long BlockEnd<TInput>(ref Reader<TInput> reader)
    {
        var length = reader.ReadVarUInt32();
        reader.EnsureAvailable(length);
        return reader.Position + length;
    }

    /// <summary>Fails unless the block was consumed exactly.</summary>
    public static void Finish<TInput>(ref Reader<TInput> reader, long end)
    {
        if (reader.Position != end)
        {
            throw new SerializerException($"a cache wire block was not consumed exactly ({end - reader.Position} bytes left)");
        }
    }

    private static bool IsOk(CacheReply reply) =>
        ReferenceEquals(reply, CacheReply.Ok) || (reply.Kind == CacheReplyKind.Status && reply.Text == "OK");

    private static int TextSize(string text, uint offset = 0)
    {
        var bytes = Encoding.UTF8.GetByteCount(text);
        return VarSize((uint)bytes + offset) + bytes;
    }

    private static void WriteText<TBufferWriter>(ref Writer<TBufferWriter> writer, string text, uint offset = 0)
        where TBufferWriter : IBufferWriter<byte>
    {
        var bytes = Encoding.UTF8.GetByteCount(text);
        writer.WriteVarUInt32((uint)bytes + offset);
        StringCodec.WriteRaw(ref writer, text, bytes);
    }

    private static string? ReadText<TInput>(ref Reader<TInput> reader, long end, uint offset = 0)
    {
        var length = reader.ReadVarUInt32();
        if (offset == 1 && length == 0)
        {
            return null;
        }

        var bytes = length - offset;
        Need(ref reader, end, bytes);
        return StringCodec.ReadRaw(ref reader, bytes);
    }

    private static int ReadCount<TInput>(ref Reader<TInput> reader, long end, uint offset = 0)
    {
        var raw = reader.ReadVarUInt32();
        if (offset == 1 && raw == 0)
        {
            return -1;
        }

        // Every element takes at least one byte: a count larger than the rest of the block is forged.
        var count = raw - offset;
        Need(ref reader, end, count);
        return (int)count;
    }

    private static void Need<TInput>(ref Reader<TInput> reader, long end, uint bytes)
    {
        if (reader.Position + bytes > end)
        {
            throw new SerializerException("a cache wire block is shorter than its contents claim");
        }
    }

    private static ulong ZigZag(long value) => (ulong)((value << 1) ^ (value >> 63));

    private static int VarSize(ulong value)
    {
        var size = 1;
        while (value >= 0x80)
        {
            value >>= 7;
            size++;
        }

        return size;
    }
}

/// <summary>
/// A codec that writes its value as one length-prefixed block of <see cref="CacheWire"/> and reads it
/// back with the block's bounds checked (see <see cref="CacheWire"/>). Nulls are Orleans' null reference;
/// nothing is reference-tracked.
/// </summary>
public abstract class CacheBlockCodec<T> : IFieldCodec<T>
    where T : class
{
    /// <inheritdoc/>
    public void WriteField<TBufferWriter>(ref Writer<TBufferWriter> writer, uint fieldIdDelta, Type? expectedType, [AllowNull] T value)
        where TBufferWriter : IBufferWriter<byte>
    {
        if (value is null)
        {
            ReferenceCodec.WriteNullReference(ref writer, fieldIdDelta);
            return;
        }

        writer.WriteFieldHeader(fieldIdDelta, expectedType, typeof(T), WireType.LengthPrefixed);
        writer.WriteVarUInt32((uint)Size(value));
        Write(ref writer, value);
    }

    /// <inheritdoc/>
    [return: MaybeNull]
    public T ReadValue<TInput>(ref Reader<TInput> reader, Field field)
    {
        if (field.WireType == WireType.Reference)
        {
            return ReferenceCodec.ReadReference<T, TInput>(ref reader, field);
        }

        field.EnsureWireType(WireType.LengthPrefixed);
        var end = CacheWire.BlockEnd(ref reader);
        var value = Read(ref reader, end);
        CacheWire.Finish(ref reader, end);
        return value;
    }

    /// <summary>The block's size in bytes.</summary>
    protected abstract int Size(T value);

    /// <summary>Writes the block's contents (exactly <see cref="Size"/> bytes).</summary>
    protected abstract void Write<TBufferWriter>(ref Writer<TBufferWriter> writer, T value)
        where TBufferWriter : IBufferWriter<byte>;

    /// <summary>Reads the block's contents, which end at reader position <paramref name="end"/>.</summary>
    protected abstract T Read<TInput>(ref Reader<TInput> reader, long end);
}

/// <summary>Writes a <see cref="CacheReply"/> as one block of <see cref="CacheWire"/>.</summary>
[RegisterSerializer]
public sealed class CacheReplyCodec : CacheBlockCodec<CacheReply>
{
    /// <inheritdoc/>
    protected override int Size(CacheReply value) => CacheWire.Size(value);

    /// <inheritdoc/>
    protected override void Write<TBufferWriter>(ref Writer<TBufferWriter> writer, CacheReply value) => CacheWire.Write(ref writer, value);

    /// <inheritdoc/>
    protected override CacheReply Read<TInput>(ref Reader<TInput> reader, long end) =>
        CacheWire.Read(ref reader, end) ?? throw new SerializerException("a cache reply block holds null");
}

/// <summary>Writes a shard's reply batch as one block of <see cref="CacheWire"/>.</summary>
[RegisterSerializer]
public sealed class CacheReplyArrayCodec : CacheBlockCodec<CacheReply[]>
{
    /// <inheritdoc/>
    protected override int Size(CacheReply[] value) => CacheWire.Size(value);

    /// <inheritdoc/>
    protected override void Write<TBufferWriter>(ref Writer<TBufferWriter> writer, CacheReply[] value) => CacheWire.Write(ref writer, value);

    /// <inheritdoc/>
    protected override CacheReply[] Read<TInput>(ref Reader<TInput> reader, long end) => CacheWire.ReadReplies(ref reader, end)!;
}

/// <summary>Writes a shard's command batch (<c>string[][]</c>, the only use of that type on the wire) as one block of <see cref="CacheWire"/>.</summary>
[RegisterSerializer]
public sealed class CacheCommandBatchCodec : CacheBlockCodec<string[][]>
{
    /// <inheritdoc/>
    protected override int Size(string[][] value) => CacheWire.Size(value);

    /// <inheritdoc/>
    protected override void Write<TBufferWriter>(ref Writer<TBufferWriter> writer, string[][] value) => CacheWire.Write(ref writer, value);

    /// <inheritdoc/>
    protected override string[][] Read<TInput>(ref Reader<TInput> reader, long end) => CacheWire.ReadCommands(ref reader, end)!;
}

/// <summary>Replies are immutable: a copy is the reply itself.</summary>
[RegisterCopier]
public sealed class CacheReplyCopier : ShallowCopier<CacheReply>;
