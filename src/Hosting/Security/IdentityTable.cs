using System.Collections.Concurrent;
using System.Collections.Frozen;
using System.Security.Cryptography;
using System.Security.Cryptography.X509Certificates;
using System.Text;
using Granary.Client.Security;

namespace Granary.Server.Security;

/// <summary>A configured identity as the check uses it: its name and the permissions it holds.</summary>
/// <param name="Name">The name.</param>
/// <param name="Mask">The permissions, one bit each (<see cref="PermissionNames"/>).</param>
public sealed record ClientIdentity(string Name, ulong Mask);

/// <summary>
/// The configured identities, looked up by credential. A token is compared by its SHA-256 with every
/// configured hash in constant time; a token that matched is remembered (at most one entry per
/// identity: wrong tokens are never remembered), so the usual call costs one dictionary lookup.
/// </summary>
public sealed class IdentityTable : IDisposable
{
    private readonly (byte[] Hash, ClientIdentity Identity)[] _tokens;
    private readonly ConcurrentDictionary<string, ClientIdentity> _known = new(StringComparer.Ordinal);
    private readonly FrozenDictionary<string, ClientIdentity> _byThumbprint;
    private readonly FrozenDictionary<string, ClientIdentity> _bySubject;
    private readonly X509Certificate2? _authority;

    /// <summary>Builds the table from validated options (token files and the CA file are read here).</summary>
    public IdentityTable(IdentityOptions options)
    {
        ArgumentNullException.ThrowIfNull(options);
        Identities = [.. options.Identities.Select(i => new ClientIdentity(i.Name, i.Permissions.Aggregate(0UL, (mask, p) => mask | Parse(p))))];
        var configured = options.Identities.Zip(Identities).ToArray();
        _tokens = [.. configured.Select(x => (Hash: TokenHash(x.First), Identity: x.Second)).Where(x => x.Hash is not null).Select(x => (Convert.FromHexString(x.Hash!), x.Identity))];
        _byThumbprint = configured.SelectMany(x => x.First.CertificateThumbprints.Select(t => (Key: t.Trim(), x.Second)))
            .ToFrozenDictionary(x => x.Key, x => x.Second, StringComparer.OrdinalIgnoreCase);
        _bySubject = configured.SelectMany(x => x.First.CertificateSubjects.Select(t => (Key: t.Trim(), x.Second)))
            .ToFrozenDictionary(x => x.Key, x => x.Second, StringComparer.Ordinal);
        _authority = options.Authorization.ClientCertificateAuthorityFile is { Length: > 0 } file ? ReadAuthority(file) : null;
    }

    /// <summary>
    /// The identity of a client certificate whose assertion signature was already checked: the
    /// certificate must be within its validity period at <paramref name="now"/>, and either pinned by
    /// thumbprint or issued by the configured CA to a configured subject. Null with the reason otherwise.
    /// </summary>
    public ClientIdentity? FindByCertificate(X509Certificate2 certificate, DateTimeOffset now, out string reason)
    {
        ArgumentNullException.ThrowIfNull(certificate);
        if (now < certificate.NotBefore.ToUniversalTime() || now > certificate.NotAfter.ToUniversalTime())
        {
            reason = "client certificate outside its validity period";
            return null;
        }

        if (_byThumbprint.TryGetValue(certificate.GetCertHashString(HashAlgorithmName.SHA256), out var pinned))
        {
            reason = "";
            return pinned;
        }

        if (_authority is null || !_bySubject.TryGetValue(certificate.Subject, out var named))
        {
            reason = "client certificate of no identity";
            return null;
        }

        using var chain = new X509Chain();
        chain.ChainPolicy.TrustMode = X509ChainTrustMode.CustomRootTrust;
        chain.ChainPolicy.CustomTrustStore.Add(_authority);
        chain.ChainPolicy.RevocationMode = X509RevocationMode.NoCheck;
        chain.ChainPolicy.VerificationTime = now.UtcDateTime;
        chain.ChainPolicy.VerificationTimeIgnored = false;
        if (!chain.Build(certificate))
        {
            reason = "client certificate not issued by the configured CA";
            return null;
        }

        reason = "";
        return named;
    }

    /// <inheritdoc/>
    public void Dispose() => _authority?.Dispose();

    /// <summary>Reads the CA certificate of client certificates from a PEM (or DER) file.</summary>
    public static X509Certificate2 ReadAuthority(string path)
    {
        ArgumentNullException.ThrowIfNull(path);
        return X509CertificateLoader.LoadCertificateFromFile(path);
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

        if (token.Length is 0 or > ClientCredentials.MaxTokenLength)
        {
            return null;
        }

        Span<byte> utf8 = stackalloc byte[ClientCredentials.MaxTokenLength * 3];
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

    /// <summary>True for a usable identity name.</summary>
    public static bool IsValidName(string? name) =>
        name is { Length: > 0 and <= 64 } && name.All(c => char.IsAsciiLetterOrDigit(c) || c is '-' or '_' or '.' or '@');

    /// <summary>True for 64 hex digits.</summary>
    public static bool IsSha256Hex(string? text) => text is { Length: 64 } && text.All(char.IsAsciiHexDigit);

    private static string? TokenHash(ClientIdentityOptions identity) =>
        !string.IsNullOrWhiteSpace(identity.TokenSha256) ? identity.TokenSha256.Trim()
        : !string.IsNullOrWhiteSpace(identity.TokenFile) ? HashHex(ClientCredentials.ReadTokenFile(identity.TokenFile))
        : null;

    private static ulong Parse(string name) =>
        PermissionNames.TryParse(name, out var mask) ? mask : throw new ArgumentException($"unknown permission '{name}'", nameof(name));
}
