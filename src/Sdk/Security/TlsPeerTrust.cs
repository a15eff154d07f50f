using System.Security.Cryptography;
using System.Security.Cryptography.X509Certificates;
using Microsoft.Extensions.Options;

namespace Granary.Client.Security;

/// <summary>
/// Decides whether a remote certificate is trusted in one role (<see cref="TlsPeerTrustOptions"/>):
/// pinned thumbprints and/or a chain to the configured CA, built with custom root trust (the OS
/// trust store plays no part), inside its validity period, with the configured revocation check.
/// Host names play no part either: silos are reached by address and identified by certificate.
/// </summary>
public sealed class TlsPeerTrust
{
    private readonly X509Certificate2Collection _authorities;
    private readonly HashSet<string> _thumbprints;
    private readonly X509RevocationMode _revocation;
    private readonly TimeProvider _time;

    /// <summary>Creates the trust from its options (the CA file is read now).</summary>
    public TlsPeerTrust(TlsPeerTrustOptions options, X509RevocationMode revocation, TimeProvider? time = null)
    {
        ArgumentNullException.ThrowIfNull(options);
        _authorities = [];
        if (!string.IsNullOrWhiteSpace(options.CaFile))
        {
            _authorities.ImportFromPemFile(options.CaFile);
        }

        _thumbprints = options.Thumbprints.Select(TlsThumbprint.Normalize).ToHashSet(StringComparer.Ordinal);
        _revocation = revocation;
        _time = time ?? TimeProvider.System;
        IsEmpty = _authorities.Count == 0 && _thumbprints.Count == 0;
    }

    /// <summary>True when nothing is trusted in this role.</summary>
    public bool IsEmpty { get; }

    /// <summary>The thumbprints of the CA certificates.</summary>
    public IEnumerable<string> AuthorityThumbprints => _authorities.Select(c => c.Thumbprint);

    /// <summary>True when the thumbprint list is given.</summary>
    public bool Pins => _thumbprints.Count > 0;

    /// <summary>
    /// Null when <paramref name="certificate"/> is trusted; otherwise why not, as a short reason
    /// (<c>expired</c>, <c>not-yet-valid</c>, <c>untrusted</c>, <c>revoked</c>, <c>not-allowed</c>, <c>no-trust-configured</c>).
    /// </summary>
    /// <param name="certificate">The remote certificate.</param>
    /// <param name="presented">The chain the remote sent (its intermediates are used), if any.</param>
    public string? Check(X509Certificate2 certificate, X509Chain? presented)
    {
        ArgumentNullException.ThrowIfNull(certificate);
        if (IsEmpty)
        {
            return "no-trust-configured";
        }

        var now = _time.GetLocalNow().LocalDateTime;
        if (now > certificate.NotAfter)
        {
            return "expired";
        }

        if (now < certificate.NotBefore)
        {
            return "not-yet-valid";
        }

        if (_thumbprints.Count > 0 && !_thumbprints.Contains(TlsThumbprint.Normalize(certificate.Thumbprint)))
        {
            return "not-allowed";
        }

        return _authorities.Count == 0 ? null : CheckChain(certificate, presented, now);
    }

    private string? CheckChain(X509Certificate2 certificate, X509Chain? presented, DateTime now)
    {
        using var chain = new X509Chain();
        chain.ChainPolicy.TrustMode = X509ChainTrustMode.CustomRootTrust;
        chain.ChainPolicy.CustomTrustStore.AddRange(_authorities);
        chain.ChainPolicy.ExtraStore.AddRange(_authorities);
        chain.ChainPolicy.RevocationMode = _revocation;
        chain.ChainPolicy.RevocationFlag = X509RevocationFlag.ExcludeRoot;
        chain.ChainPolicy.VerificationTime = now;
        if (presented is not null)
        {
            foreach (var element in presented.ChainElements)
            {
                if (!element.Certificate.RawDataMemory.Span.SequenceEqual(certificate.RawDataMemory.Span))
                {
                    chain.ChainPolicy.ExtraStore.Add(element.Certificate);
                }
            }
        }

        try
        {
            if (chain.Build(certificate))
            {
                return null;
            }
        }
        catch (CryptographicException)
        {
            return "untrusted";
        }

        var flags = chain.ChainStatus.Aggregate(X509ChainStatusFlags.NoError, (all, s) => all | s.Status);
        return flags switch
        {
            _ when flags.HasFlag(X509ChainStatusFlags.NotTimeValid) => "expired",
            _ when flags.HasFlag(X509ChainStatusFlags.Revoked) => "revoked",
            _ when flags.HasFlag(X509ChainStatusFlags.RevocationStatusUnknown) || flags.HasFlag(X509ChainStatusFlags.OfflineRevocation) => "revocation-unknown",
            _ => "untrusted",
        };
    }
}

/// <summary>Loads the local certificate <see cref="GranaryTlsOptions"/> names.</summary>
public static class TlsCertificateLoader
{
    /// <summary>
    /// The certificate with its private key, from PEM files or the OS store.
    /// </summary>
    /// <exception cref="OptionsValidationException">The files cannot be read, hold no key, or the store has no such certificate.</exception>
    public static X509Certificate2 Load(GranaryTlsOptions options)
    {
        ArgumentNullException.ThrowIfNull(options);
        const string s = GranaryTlsOptions.SectionName;
        X509Certificate2 certificate;
        if (options.UsesFiles)
        {
            try
            {
                using var pem = string.IsNullOrWhiteSpace(options.KeyFile)
                    ? X509Certificate2.CreateFromPemFile(options.CertificateFile!)
                    : X509Certificate2.CreateFromPemFile(options.CertificateFile!, options.KeyFile);

                // A PKCS#12 round trip gives a key SslStream can use on every platform.
                certificate = X509CertificateLoader.LoadPkcs12(pem.Export(X509ContentType.Pkcs12), password: null);
            }
            catch (Exception ex) when (ex is CryptographicException or IOException or UnauthorizedAccessException or ArgumentException)
            {
                throw Invalid($"{s}:CertificateFile '{options.CertificateFile}' / KeyFile '{options.KeyFile}' could not be loaded as a PEM certificate with its private key: {ex.Message}");
            }
        }
        else
        {
            using var store = new X509Store(options.StoreName, options.StoreLocation);
            store.Open(OpenFlags.ReadOnly | OpenFlags.OpenExistingOnly);
            var found = string.IsNullOrWhiteSpace(options.StoreThumbprint)
                ? store.Certificates.Find(X509FindType.FindBySubjectName, options.StoreSubject!, validOnly: false)
                : store.Certificates.Find(X509FindType.FindByThumbprint, TlsThumbprint.Normalize(options.StoreThumbprint), validOnly: false);
            certificate = found.Where(c => c.HasPrivateKey).OrderByDescending(c => c.NotAfter).FirstOrDefault()
                ?? throw Invalid($"{s}: no certificate with a private key matches StoreThumbprint '{options.StoreThumbprint}' / StoreSubject '{options.StoreSubject}' in store {options.StoreLocation}/{options.StoreName}.");
        }

        if (!certificate.HasPrivateKey)
        {
            throw Invalid($"{s}: the certificate {certificate.Subject} has no private key (give {s}:KeyFile).");
        }

        return certificate;
    }

    internal static OptionsValidationException Invalid(string message) =>
        new(GranaryTlsOptions.SectionName, typeof(GranaryTlsOptions), [message]);
}
