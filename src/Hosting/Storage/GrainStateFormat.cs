using System.Buffers;
using Orleans.Serialization;
using Orleans.Storage;

namespace Granary.Server.Storage;

/// <summary>
/// How grain state is stored in the shards' <c>payload</c> column: one format byte (<see cref="Binary"/>)
/// followed by Orleans' binary serialization of the state. Every state type is
/// <c>[GenerateSerializer]</c> with an <c>[Id]</c> per member and an <c>[Alias]</c>, so the stored
/// form is version tolerant the same way as the wire form (members may be added or removed; ids are
/// never reused). A row written before this format existed holds Newtonsoft JSON with type names; it
/// starts with <c>{</c>, never with the format byte, and is read through <paramref name="legacy"/>
/// (the next write stores it in the binary form).
/// </summary>
/// <remarks>
/// The binary form is about a quarter of the JSON's size for a held lock (118 bytes against 483) and is
/// written without reflection or type-name strings: at the grain-state writer's rates the JSON
/// encoder was one of the larger items of the silo's CPU per durable operation.
/// </remarks>
/// <param name="binary">Orleans' serializer (the silo's, with every codec the grains use).</param>
/// <param name="legacy">Reads rows stored as JSON (Orleans' default grain-storage serializer).</param>
public sealed class GrainStateFormat(Serializer binary, IGrainStorageSerializer legacy) : IGrainStorageSerializer
{
    /// <summary>The first byte of a binary-format payload (JSON text never starts with it).</summary>
    public const byte Binary = 0x01;

    /// <inheritdoc/>
    public BinaryData Serialize<T>(T? input)
    {
        var buffer = new ArrayBufferWriter<byte>(256);
        buffer.GetSpan(1)[0] = Binary;
        buffer.Advance(1);
        binary.Serialize(input, buffer);
        return new BinaryData(buffer.WrittenMemory);
    }

    /// <inheritdoc/>
    public T? Deserialize<T>(BinaryData input)
    {
        ArgumentNullException.ThrowIfNull(input);
        var memory = input.ToMemory();
        return !memory.IsEmpty && memory.Span[0] == Binary
            ? binary.Deserialize<T>(memory[1..])
            : legacy.Deserialize<T>(input);
    }
}
