using System.IO.Hashing;
using System.Runtime.InteropServices;
using System.Text;

namespace Granary.Hashing;

/// <summary>
/// A 64-bit hash that is the same in every process, on every machine, forever
/// (XxHash3 with seed 0 over the UTF-8 bytes). <see cref="string.GetHashCode()"/> is randomised
/// per process and must never decide where data lives.
/// </summary>
/// <example><code>ulong h = StableHash.Hash64("user:42");</code></example>
public static class StableHash
{
    private const int StackLimit = 512;

    /// <summary>Hashes the UTF-8 encoding of <paramref name="key"/>.</summary>
    public static ulong Hash64(string key)
    {
        ArgumentNullException.ThrowIfNull(key);
        var max = Encoding.UTF8.GetMaxByteCount(key.Length);
        if (max <= StackLimit)
        {
            Span<byte> buffer = stackalloc byte[StackLimit];
            var written = Encoding.UTF8.GetBytes(key, buffer);
            return XxHash3.HashToUInt64(buffer[..written]);
        }

        var bytes = Encoding.UTF8.GetBytes(key);
        return XxHash3.HashToUInt64(bytes);
    }

    /// <summary>Hashes raw bytes.</summary>
    public static ulong Hash64(ReadOnlySpan<byte> data) => XxHash3.HashToUInt64(data);

    /// <summary>Hashes a 128-bit value (e.g. a Guid key) by its bytes.</summary>
    public static ulong Hash64(Guid value)
    {
        Span<byte> bytes = stackalloc byte[16];
        MemoryMarshal.Write(bytes, in value);
        return XxHash3.HashToUInt64(bytes);
    }
}
