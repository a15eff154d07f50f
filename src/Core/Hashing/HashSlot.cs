using System.Numerics;
using System.Text;

namespace Granary.Hashing;

/// <summary>
/// Redis Cluster's hash slots: a key belongs to slot <c>CRC16(key) mod 16384</c> (CRC16-XMODEM over
/// the key's bytes: UTF-8, or those an escaped key stands for, see <see cref="Granary.Caching.CacheBytes"/>),
/// or to the slot of its hash tag when it has one, so keys sharing a tag share a slot.
/// The tag is what lies between the first <c>{</c> and the first <c>}</c> after it, when that is not
/// empty (<c>{user1000}.following</c> hashes <c>user1000</c>; <c>{}x</c> and <c>x{</c> hash the whole key).
/// </summary>
/// <example><code>int slot = HashSlot.Of("{user1000}.following");   // same as HashSlot.Of("user1000")</code></example>
public static class HashSlot
{
    /// <summary>Number of slots (Redis Cluster's 16,384).</summary>
    public const int Count = 16384;

    /// <summary>Bits of a 64-bit ring position that a slot spans (64 - log2(16384)).</summary>
    private const int PositionShift = 50;

    private const int StackLimit = 512;

    private static readonly ushort[] Tables = BuildTables();

    /// <summary>The slot of <paramref name="key"/> (of its hash tag when it has one).</summary>
    public static int Of(string key)
    {
        ArgumentNullException.ThrowIfNull(key);
        if (Granary.Caching.CacheBytes.IsEscaped(key))
        {
            return Crc16(TagOf(Granary.Caching.CacheBytes.GetBytes(key))) & (Count - 1);
        }

        var hashed = TagOf(key);
        if (!Ascii.IsValid(hashed))
        {
            return Utf8Slot(hashed);
        }

        // ASCII: each char is its own UTF-8 byte, so hash the chars without transcoding them.
        return Crc16Of(hashed) & (Count - 1);
    }

    private static int Utf8Slot(ReadOnlySpan<char> hashed)
    {
        var max = Encoding.UTF8.GetMaxByteCount(hashed.Length);
        if (max <= StackLimit)
        {
            Span<byte> buffer = stackalloc byte[StackLimit];
            var written = Encoding.UTF8.GetBytes(hashed, buffer);
            return Crc16(buffer[..written]) & (Count - 1);
        }

        return Crc16(Encoding.UTF8.GetBytes(hashed.ToString())) & (Count - 1);
    }

    /// <summary>The part of <paramref name="key"/> that is hashed: its hash tag, or the whole key.</summary>
    public static ReadOnlySpan<char> TagOf(string key)
    {
        ArgumentNullException.ThrowIfNull(key);
        var open = key.IndexOf('{', StringComparison.Ordinal);
        if (open < 0)
        {
            return key;
        }

        var close = key.IndexOf('}', open + 1);
        return close <= open + 1 ? key : key.AsSpan(open + 1, close - open - 1);
    }

    /// <summary>The part of <paramref name="key"/>'s bytes that is hashed: its hash tag, or all of them.</summary>
    public static ReadOnlySpan<byte> TagOf(ReadOnlySpan<byte> key)
    {
        var open = key.IndexOf((byte)'{');
        if (open < 0)
        {
            return key;
        }

        var close = key[(open + 1)..].IndexOf((byte)'}') + open + 1;
        return close <= open + 1 ? key : key.Slice(open + 1, close - open - 1);
    }

    /// <summary>CRC16-XMODEM (polynomial 0x1021, initial value 0, no reflection), the checksum Redis Cluster uses.</summary>
    public static ushort Crc16(ReadOnlySpan<byte> bytes) => Crc16Of(bytes);

    /// <summary>
    /// CRC16-XMODEM of <paramref name="units"/>, each an 8-bit value (bytes, or ASCII chars), four at a time:
    /// the checksum is linear, so four units fold in as four independent table lookups
    /// (<see cref="Tables"/>: a unit followed by 0-3 zero bytes) instead of a chain of four.
    /// </summary>
    private static ushort Crc16Of<T>(ReadOnlySpan<T> units)
        where T : unmanaged, IBinaryInteger<T>
    {
        var t = Tables;
        uint crc = 0;
        var i = 0;
        for (; i + 4 <= units.Length; i += 4)
        {
            crc = (uint)(t[(3 * 256) + (((crc >> 8) ^ uint.CreateTruncating(units[i])) & 0xFF)]
                ^ t[(2 * 256) + ((crc ^ uint.CreateTruncating(units[i + 1])) & 0xFF)]
                ^ t[256 + (uint.CreateTruncating(units[i + 2]) & 0xFF)]
                ^ t[uint.CreateTruncating(units[i + 3]) & 0xFF]);
        }

        for (; i < units.Length; i++)
        {
            crc = ((crc << 8) & 0xFFFF) ^ t[((crc >> 8) ^ uint.CreateTruncating(units[i])) & 0xFF];
        }

        return (ushort)crc;
    }

    /// <summary>
    /// Where slot <paramref name="slot"/> sits on a 64-bit consistent-hash ring: the middle of the slot's
    /// equal arc, so consecutive slots are neighbours on the ring and a ring member owns runs of slots.
    /// </summary>
    public static ulong RingPosition(int slot)
    {
        ArgumentOutOfRangeException.ThrowIfNegative(slot);
        ArgumentOutOfRangeException.ThrowIfGreaterThanOrEqual(slot, Count);
        return ((ulong)slot << PositionShift) | (1UL << (PositionShift - 1));
    }

    /// <summary>
    /// Four tables of 256 entries: the first the classic byte table (the checksum of one byte from a zero
    /// state), each next one the previous pushed through one more zero byte.
    /// </summary>
    private static ushort[] BuildTables()
    {
        var tables = new ushort[4 * 256];
        for (var i = 0; i < 256; i++)
        {
            var crc = (ushort)(i << 8);
            for (var bit = 0; bit < 8; bit++)
            {
                crc = (crc & 0x8000) != 0 ? (ushort)((crc << 1) ^ 0x1021) : (ushort)(crc << 1);
            }

            tables[i] = crc;
        }

        for (var k = 1; k < 4; k++)
        {
            for (var i = 0; i < 256; i++)
            {
                var previous = tables[((k - 1) * 256) + i];
                tables[(k * 256) + i] = (ushort)(((previous & 0xFF) << 8) ^ tables[previous >> 8]);
            }
        }

        return tables;
    }
}
