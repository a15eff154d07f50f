using System.Globalization;

namespace Granary.Identity;

/// <summary>
/// Cheap unique ids for hot paths: 32 hex characters, like a "N"-formatted Guid, made of a random
/// 64-bit prefix drawn once per process and a 64-bit counter. <see cref="Guid.NewGuid"/> reads the
/// kernel's random source on every call, a system call that costs more than the rest of a lock
/// acquire on a virtual machine; these ids draw randomness once. They are unique within a process
/// and, across processes, as unlikely to collide as two random 64-bit prefixes. Use
/// <see cref="Guid.NewGuid"/> where an id must also be unguessable.
/// </summary>
public static class UniqueIds
{
    private static readonly string Prefix = Random.Shared.NextInt64().ToString("x16", CultureInfo.InvariantCulture);
    private static long _counter = Random.Shared.NextInt64(1L << 40);

    /// <summary>A new id of 32 lowercase hex characters.</summary>
    public static string Next()
    {
        var n = Interlocked.Increment(ref _counter);
        return string.Create(32, n, static (span, value) =>
        {
            Prefix.AsSpan().CopyTo(span);
            value.TryFormat(span[16..], out _, "x16", CultureInfo.InvariantCulture);
        });
    }
}
