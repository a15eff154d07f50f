using System.Security.Cryptography.X509Certificates;

namespace Granary.Client.Security;

/// <summary>
/// The credential a client attaches to every call (section <c>Granary:Client</c>): the token of its
/// identity, given directly (for example by the environment variable <c>Granary__Client__Token</c>)
/// or as a file; or its client certificate. With none, calls carry no credential (enough for a
/// cluster without identities).
/// </summary>
public sealed class ClientCredentialOptions
{
    /// <summary>The configuration section bound to this class.</summary>
    public const string SectionName = "Granary:Client";

    /// <summary>The token. Default none. Exclusive with <see cref="TokenFile"/>.</summary>
    public string? Token { get; set; }

    /// <summary>A file whose first line is the token (keep it readable by its owner only). Default none.</summary>
    public string? TokenFile { get; set; }

    /// <summary>
    /// PEM file of the client's certificate, whose identity the silos know by thumbprint or subject
    /// (with <see cref="CertificateKeyFile"/>; exclusive with a token). The client signs a short
    /// assertion with its key every 2 minutes and sends it with every call. Default none.
    /// </summary>
    public string? CertificateFile { get; set; }

    /// <summary>PEM file of the private key of <see cref="CertificateFile"/> (keep it readable by its owner only). Default none.</summary>
    public string? CertificateKeyFile { get; set; }

    /// <summary>The client certificate with its private key, or null when none is configured.</summary>
    public X509Certificate2? LoadCertificate() =>
        string.IsNullOrWhiteSpace(CertificateFile) ? null : X509Certificate2.CreateFromPemFile(CertificateFile, CertificateKeyFile);

    /// <summary>The token to send: <see cref="Token"/>, or the first line of <see cref="TokenFile"/>; null for none.</summary>
    public string? ResolveToken() =>
        !string.IsNullOrWhiteSpace(Token) ? Token.Trim()
        : !string.IsNullOrWhiteSpace(TokenFile) ? ClientCredentials.ReadTokenFile(TokenFile)
        : null;
}
