using System.Security.Cryptography;
using System.Security.Cryptography.X509Certificates;

namespace Granary.Tests.Cluster.Security;

/// <summary>
/// Client certificates for the identity tests, made with <see cref="CertificateRequest"/>: a CA, a
/// certificate it issued to <c>CN=cert-user</c>, a self-signed one pinned by thumbprint, one with the
/// same subject from another CA, and an expired one from the right CA. The CA is written to a PEM file.
/// </summary>
public sealed class IdentityCertificates : IDisposable
{
    /// <summary>The subject the CA-issued identity is configured with.</summary>
    public const string Subject = "CN=cert-user";

    private readonly X509Certificate2 _authority;
    private readonly X509Certificate2 _otherAuthority;

    /// <summary>Makes the certificates; the CA goes to <see cref="AuthorityFile"/>.</summary>
    public IdentityCertificates()
    {
        var now = DateTimeOffset.UtcNow;
        _authority = Authority("CN=granary-test-client-ca", now);
        _otherAuthority = Authority("CN=granary-other-ca", now);
        Trusted = Issue(_authority, Subject, now.AddDays(-1), now.AddDays(1));
        Untrusted = Issue(_otherAuthority, Subject, now.AddDays(-1), now.AddDays(1));
        Expired = Issue(_authority, Subject, now.AddDays(-10), now.AddDays(-1));
        using var key = ECDsa.Create(ECCurve.NamedCurves.nistP256);
        Pinned = new CertificateRequest("CN=pinned-user", key, HashAlgorithmName.SHA256).CreateSelfSigned(now.AddDays(-1), now.AddDays(1));
        AuthorityFile = Path.Combine(Path.GetTempPath(), "granary-client-ca-" + Guid.NewGuid().ToString("N")[..8] + ".pem");
        File.WriteAllText(AuthorityFile, _authority.ExportCertificatePem());
    }

    /// <summary>PEM file of the CA.</summary>
    public string AuthorityFile { get; }

    /// <summary>Issued by the CA to <see cref="Subject"/>.</summary>
    public X509Certificate2 Trusted { get; }

    /// <summary><see cref="Subject"/>, issued by another CA.</summary>
    public X509Certificate2 Untrusted { get; }

    /// <summary>Issued by the CA, expired yesterday.</summary>
    public X509Certificate2 Expired { get; }

    /// <summary>Self-signed, pinned by thumbprint.</summary>
    public X509Certificate2 Pinned { get; }

    /// <summary>The SHA-256 thumbprint of <see cref="Pinned"/>.</summary>
    public string PinnedThumbprint => Pinned.GetCertHashString(HashAlgorithmName.SHA256);

    /// <inheritdoc/>
    public void Dispose()
    {
        File.Delete(AuthorityFile);
        foreach (var certificate in new[] { _authority, _otherAuthority, Trusted, Untrusted, Expired, Pinned })
        {
            certificate.Dispose();
        }
    }

    private static X509Certificate2 Authority(string subject, DateTimeOffset now)
    {
        using var key = ECDsa.Create(ECCurve.NamedCurves.nistP256);
        var request = new CertificateRequest(subject, key, HashAlgorithmName.SHA256);
        request.CertificateExtensions.Add(new X509BasicConstraintsExtension(true, false, 0, true));
        request.CertificateExtensions.Add(new X509KeyUsageExtension(X509KeyUsageFlags.KeyCertSign | X509KeyUsageFlags.CrlSign, true));
        return request.CreateSelfSigned(now.AddDays(-30), now.AddDays(30));
    }

    private static X509Certificate2 Issue(X509Certificate2 authority, string subject, DateTimeOffset notBefore, DateTimeOffset notAfter)
    {
        using var key = ECDsa.Create(ECCurve.NamedCurves.nistP256);
        var request = new CertificateRequest(subject, key, HashAlgorithmName.SHA256);
        request.CertificateExtensions.Add(new X509BasicConstraintsExtension(false, false, 0, false));
        request.CertificateExtensions.Add(new X509KeyUsageExtension(X509KeyUsageFlags.DigitalSignature, true));
        using var issued = request.Create(authority, notBefore, notAfter, RandomNumberGenerator.GetBytes(8));
        return issued.CopyWithPrivateKey(key);
    }
}
