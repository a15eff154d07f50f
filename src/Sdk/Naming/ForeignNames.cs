using System.Runtime.InteropServices;
using System.Security.Cryptography;
using Granary.Text;

namespace Granary.Client.Naming;

/// <summary>
/// Maps a name from an API that accepts any string (an <c>IDistributedCache</c> key, a
/// DistributedLock name) onto a Granary name (1..<see cref="Limits.MaxKeyLength"/> characters, not
/// blank, storable text), deterministically and without collisions: a name Granary accepts as it is
/// stays as it is; any other (too long, blank, with U+0000 or an unpaired surrogate, or starting with
/// <see cref="HashedPrefix"/>) becomes <see cref="HashedPrefix"/> plus the SHA-256 of its UTF-16
/// code units in hex (71 characters). The same input gives the same name in every process.
/// </summary>
internal static class ForeignNames
{
    /// <summary>The prefix of a hashed name; names that start with it are hashed too, so no two inputs meet.</summary>
    public const string HashedPrefix = "sha256:";

    /// <summary>The Granary name for <paramref name="name"/>.</summary>
    public static string Map(string name)
    {
        ArgumentNullException.ThrowIfNull(name);
        var usable = name.Length is > 0 and <= Limits.MaxKeyLength
            && !string.IsNullOrWhiteSpace(name)
            && StorableText.Problem(name) is null
            && !name.StartsWith(HashedPrefix, StringComparison.Ordinal);
        return usable ? name : HashedPrefix + Convert.ToHexStringLower(SHA256.HashData(MemoryMarshal.AsBytes(name.AsSpan())));
    }
}
