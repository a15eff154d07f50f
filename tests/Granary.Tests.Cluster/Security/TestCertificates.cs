using System.Net;
using System.Security.Cryptography;
using System.Security.Cryptography.X509Certificates;

namespace Granary.Tests.Cluster.Security;

/// <summary>
/// A private PKI made in the test with <see cref="CertificateRequest"/>, written as PEM files into a
/// temporary directory: a CA, a silo certificate (server and client use, SAN 127.0.0.1/localhost),
/// a client certificate, and the bad ones a client must not get in with (another CA's, a self-signed
/// one, an expired one from the right CA).
/// </summary>
public sealed class TestCertificates : IDisposable
{
    private const string ServerAuth = "1.3.6.1.5.5.7.3.1";
    private const string ClientAuth = "1.3.6.1.5.5.7.3.2";

    /// <summary>Makes the PKI in a new temporary directory (also an xunit class fixture).</summary>
    public TestCertificates()
    {
        Directory = System.IO.Directory.CreateTempSubdirectory("granary-tls-").FullName;
        using var ca = CreateAuthority("CN=Granary test CA");
        using var otherCa = CreateAuthority("CN=Some other CA");
        CaFile = WritePem("ca", ca, key: false);
        Silo = Issue(ca, "silo", "CN=granary-silo", [ServerAuth, ClientAuth], DateTimeOffset.UtcNow.AddDays(-1), DateTimeOffset.UtcNow.AddDays(30));
        Client = Issue(ca, "client", "CN=granary-operator", [ClientAuth], DateTimeOffset.UtcNow.AddDays(-1), DateTimeOffset.UtcNow.AddDays(30));
        Expired = Issue(ca, "expired", "CN=granary-expired", [ClientAuth], DateTimeOffset.UtcNow.AddDays(-30), DateTimeOffset.UtcNow.AddDays(-1));
        OtherCa = Issue(otherCa, "other-ca", "CN=granary-operator", [ClientAuth], DateTimeOffset.UtcNow.AddDays(-1), DateTimeOffset.UtcNow.AddDays(30));
        using var selfSigned = CreateSelfSigned("CN=granary-operator", [ClientAuth]);
        SelfSigned = new Pair(WritePem("self-signed", selfSigned, key: false), WritePem("self-signed", selfSigned, key: true), selfSigned.Thumbprint);
    }

    /// <summary>A certificate file, its key file and its thumbprint.</summary>
    public sealed record Pair(string CertificateFile, string KeyFile, string Thumbprint);

    /// <summary>Where the files are.</summary>
    public string Directory { get; }

    /// <summary>The CA certificate (PEM).</summary>
    public string CaFile { get; }

    /// <summary>The silos' certificate.</summary>
    public Pair Silo { get; }

    /// <summary>A trusted client certificate.</summary>
    public Pair Client { get; }

    /// <summary>Issued by the CA, expired yesterday.</summary>
    public Pair Expired { get; }

    /// <summary>Issued by a CA the cluster does not trust.</summary>
    public Pair OtherCa { get; }

    /// <summary>Self-signed.</summary>
    public Pair SelfSigned { get; }

    /// <summary>
    /// The <c>Granary:Security:Tls</c> settings of a silo of this PKI (silos pinned by thumbprint,
    /// clients by the CA), with <paramref name="own"/> as the local certificate (the silo's by default).
    /// </summary>
    public Dictionary<string, string?> Settings(Pair? own = null) => new(StringComparer.Ordinal)
    {
        ["Granary:Security:Tls:Enabled"] = "true",
        ["Granary:Security:Tls:CertificateFile"] = (own ?? Silo).CertificateFile,
        ["Granary:Security:Tls:KeyFile"] = (own ?? Silo).KeyFile,
        ["Granary:Security:Tls:Silos:CaFile"] = CaFile,
        ["Granary:Security:Tls:Silos:Thumbprints:0"] = Silo.Thumbprint,
        ["Granary:Security:Tls:Clients:CaFile"] = CaFile,
    };

    /// <inheritdoc/>
    public void Dispose()
    {
        try
        {
            System.IO.Directory.Delete(Directory, recursive: true);
        }
        catch (IOException)
        {
            // A temporary directory; nothing depends on it going.
        }
    }

    private static X509Certificate2 CreateAuthority(string subject)
    {
        using var key = ECDsa.Create(ECCurve.NamedCurves.nistP256);
        var request = new CertificateRequest(subject, key, HashAlgorithmName.SHA256);
        request.CertificateExtensions.Add(new X509BasicConstraintsExtension(certificateAuthority: true, hasPathLengthConstraint: true, pathLengthConstraint: 0, critical: true));
        request.CertificateExtensions.Add(new X509KeyUsageExtension(X509KeyUsageFlags.KeyCertSign | X509KeyUsageFlags.CrlSign, critical: true));
        request.CertificateExtensions.Add(new X509SubjectKeyIdentifierExtension(request.PublicKey, critical: false));
        return request.CreateSelfSigned(DateTimeOffset.UtcNow.AddDays(-60), DateTimeOffset.UtcNow.AddDays(60));
    }

    private static CertificateRequest LeafRequest(string subject, ECDsa key, string[] usages)
    {
        var request = new CertificateRequest(subject, key, HashAlgorithmName.SHA256);
        request.CertificateExtensions.Add(new X509BasicConstraintsExtension(certificateAuthority: false, hasPathLengthConstraint: false, pathLengthConstraint: 0, critical: true));
        request.CertificateExtensions.Add(new X509KeyUsageExtension(X509KeyUsageFlags.DigitalSignature, critical: true));
        var oids = new OidCollection();
        foreach (var usage in usages)
        {
            oids.Add(new Oid(usage));
        }

        request.CertificateExtensions.Add(new X509EnhancedKeyUsageExtension(oids, critical: false));
        var names = new SubjectAlternativeNameBuilder();
        names.AddIpAddress(IPAddress.Loopback);
        names.AddDnsName("localhost");
        request.CertificateExtensions.Add(names.Build());
        return request;
    }

    private static X509Certificate2 CreateSelfSigned(string subject, string[] usages)
    {
        using var key = ECDsa.Create(ECCurve.NamedCurves.nistP256);
        return LeafRequest(subject, key, usages).CreateSelfSigned(DateTimeOffset.UtcNow.AddDays(-1), DateTimeOffset.UtcNow.AddDays(30));
    }

    private Pair Issue(X509Certificate2 ca, string name, string subject, string[] usages, DateTimeOffset from, DateTimeOffset to)
    {
        using var key = ECDsa.Create(ECCurve.NamedCurves.nistP256);
        var serial = RandomNumberGenerator.GetBytes(12);
        using var issued = LeafRequest(subject, key, usages).Create(ca, from, to, serial);
        using var withKey = issued.CopyWithPrivateKey(key);
        return new Pair(WritePem(name, withKey, key: false), WritePem(name, withKey, key: true), withKey.Thumbprint);
    }

    private string WritePem(string name, X509Certificate2 certificate, bool key)
    {
        var path = Path.Combine(Directory, name + (key ? ".key" : ".pem"));
        File.WriteAllText(path, key ? certificate.GetECDsaPrivateKey()!.ExportPkcs8PrivateKeyPem() : certificate.ExportCertificatePem());
        return path;
    }
}
