using System.Collections.Concurrent;
using System.Security.Cryptography;
using System.Text;

namespace Granary.Hosting.Security;

/// <summary>A configured identity as the check uses it: its name and the permissions it holds.</summary>
/// <param name="Name">The name.</param>
/// <param name="Mask">The permissions, one bit each (<see cref="PermissionNames"/>).</param>
public sealed record ClientIdentity(string Name, ulong Mask);

/// <summary>
/// The configured identities, looked up by credential. A token is compared by its SHA-256 with every
/// configured hash in constant time; a token that matched is remembered (at most one entry per
/// identity: wrong tokens are never remembered), so the usual call costs one dictionary lookup.
/// </summary>
public sealed class IdentityTable
{
    /// <summary>Longest token accepted (longer ones are refused without hashing).</summary>
    public const int MaxTokenLength = 512;

    /// <summary>Shortest token a token file may hold.</summary>
    public const int MinTokenLength = 32;

    private readonly (byte[] Hash, ClientIdentity Identity)[] _tokens;
    private readonly ConcurrentDictionary<string, ClientIdentity> _known = new(StringComparer.Ordinal);

    /// <summary>Builds the table from validated options (token files are read and hashed here).</summary>
    public IdentityTable(IdentityOptions options)
    {
        ArgumentNullException.ThrowIfNull(options);
        Identities = [.. options.Identities.Select(i => new ClientIdentity(i.Name, i.Permissions.Aggregate(0UL, (mask, p) => mask | Parse(p))))];
        _tokens = [.. options.Identities.Select((i, n) => (Convert.FromHexString(TokenHash(i)), Identities[n]))];
    }

    /// <summary>The identities, in configuration order.</summary>
    public IReadOnlyList<ClientIdentity> Identities { get; }

    /// <summary>The identity whose token is <paramref name="token"/>; null when none.</summary>
    public ClientIdentity? FindByToken(string token)
    {
        ArgumentNullException.ThrowIfNull(token);
        if (_known.TryGetValue(token, out var known))
        {
            return known;
        }

        if (token.Length is 0 or > MaxTokenLength)
        {
            return null;
        }

        Span<byte> utf8 = stackalloc byte[MaxTokenLength * 3];
        var length = Encoding.UTF8.GetBytes(token, utf8);
        Span<byte> hash = stackalloc byte[SHA256.HashSizeInBytes];
        SHA256.HashData(utf8[..length], hash);
        ClientIdentity? found = null;
        foreach (var (expected, identity) in _tokens)
        {
            // Every hash is compared (no early exit), each in constant time.
            if (CryptographicOperations.FixedTimeEquals(expected, hash))
            {
                found = identity;
            }
        }

        if (found is not null)
        {
            _known.TryAdd(token, found);
        }

        return found;
    }

    /// <summary>The SHA-256 of <paramref name="token"/> (UTF-8) as lower-case hex.</summary>
    public static string HashHex(string token)
    {
        ArgumentNullException.ThrowIfNull(token);
        return Convert.ToHexStringLower(SHA256.HashData(Encoding.UTF8.GetBytes(token)));
    }

    /// <summary>Reads a token file: its first line, trimmed; at least <see cref="MinTokenLength"/> characters.</summary>
    /// <exception cref="FormatException">The file holds no usable token.</exception>
    public static string ReadTokenFile(string path)
    {
        ArgumentNullException.ThrowIfNull(path);
        using var reader = new StreamReader(path);
        var token = reader.ReadLine()?.Trim() ?? "";
        if (token.Length < MinTokenLength || token.Length > MaxTokenLength)
        {
            throw new FormatException($"'{path}' must hold a token of {MinTokenLength} to {MaxTokenLength} characters on its first line (found {token.Length}).");
        }

        return token;
    }

    /// <summary>True for a usable identity name.</summary>
    public static bool IsValidName(string? name) =>
        name is { Length: > 0 and <= 64 } && name.All(c => char.IsAsciiLetterOrDigit(c) || c is '-' or '_' or '.' or '@');

    /// <summary>True for 64 hex digits.</summary>
    public static bool IsSha256Hex(string? text) => text is { Length: 64 } && text.All(char.IsAsciiHexDigit);

    private static string TokenHash(ClientIdentityOptions identity) =>
        !string.IsNullOrWhiteSpace(identity.TokenSha256) ? identity.TokenSha256.Trim() : HashHex(ReadTokenFile(identity.TokenFile!));

    private static ulong Parse(string name) =>
        PermissionNames.TryParse(name, out var mask) ? mask : throw new ArgumentException($"unknown permission '{name}'", nameof(name));
}
