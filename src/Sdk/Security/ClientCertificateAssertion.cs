using System.Buffers.Binary;
using System.Security.Cryptography;
using System.Security.Cryptography.X509Certificates;
using System.Text;

namespace Granary.Client.Security;

/// <summary>
/// A client certificate bound to calls: the client signs, with its certificate's private key, a short
/// statement (<see cref="Purpose"/>, the cluster id, the time of signing) and sends
/// <c>{issued-at, certificate, signature}</c> with every call under <see cref="ClientCredentials.AssertionKey"/>.
/// A silo accepts it while it is fresh (the silos' <c>AssertionLifetime</c>) and
/// the certificate is valid and trusted; the client signs a new one before that.
/// Layout: 8 bytes issued-at (Unix seconds, big-endian), 2 bytes certificate length, the DER
/// certificate, the signature (RSA PKCS#1 or ECDSA, SHA-256).
/// </summary>
public static class ClientCertificateAssertion
{
    /// <summary>What the signature is for, so a signature made for anything else is never accepted.</summary>
    public const string Purpose = "granary-client-assertion/v1";

    /// <summary>Signs an assertion for <paramref name="clusterId"/> at <paramref name="issuedAt"/> with the certificate's private key.</summary>
    /// <exception cref="CryptographicException">The certificate has no RSA or ECDSA private key.</exception>
    public static byte[] Create(X509Certificate2 certificate, string clusterId, DateTimeOffset issuedAt)
    {
        ArgumentNullException.ThrowIfNull(certificate);
        ArgumentNullException.ThrowIfNull(clusterId);
        var seconds = issuedAt.ToUnixTimeSeconds();
        var statement = Statement(clusterId, seconds);
        byte[] signature;
        using (var rsa = certificate.GetRSAPrivateKey())
        using (var ecdsa = rsa is null ? certificate.GetECDsaPrivateKey() : null)
        {
            signature = rsa?.SignData(statement, HashAlgorithmName.SHA256, RSASignaturePadding.Pkcs1)
                ?? ecdsa?.SignData(statement, HashAlgorithmName.SHA256)
                ?? throw new CryptographicException($"the client certificate {certificate.Subject} has no RSA or ECDSA private key");
        }

        var der = certificate.RawData;
        var blob = new byte[10 + der.Length + signature.Length];
        BinaryPrimitives.WriteInt64BigEndian(blob, seconds);
        BinaryPrimitives.WriteUInt16BigEndian(blob.AsSpan(8), checked((ushort)der.Length));
        der.CopyTo(blob, 10);
        signature.CopyTo(blob, 10 + der.Length);
        return blob;
    }

    /// <summary>
    /// Reads an assertion and checks its signature over the statement for <paramref name="clusterId"/>;
    /// null with the reason when it is malformed or the signature does not match.
    /// </summary>
    public static X509Certificate2? Verify(byte[] blob, string clusterId, out DateTimeOffset issuedAt, out string reason)
    {
        ArgumentNullException.ThrowIfNull(blob);
        issuedAt = default;
        var length = blob.Length < 10 ? 0 : BinaryPrimitives.ReadUInt16BigEndian(blob.AsSpan(8));
        if (length == 0 || blob.Length <= 10 + length)
        {
            reason = "malformed certificate assertion";
            return null;
        }

        var seconds = BinaryPrimitives.ReadInt64BigEndian(blob);
        X509Certificate2 certificate;
        try
        {
            certificate = X509CertificateLoader.LoadCertificate(blob.AsSpan(10, length));
            issuedAt = DateTimeOffset.FromUnixTimeSeconds(seconds);
        }
        catch (Exception ex) when (ex is CryptographicException or ArgumentOutOfRangeException)
        {
            reason = "malformed certificate assertion";
            return null;
        }

        var statement = Statement(clusterId, seconds);
        var signature = blob.AsSpan(10 + length);
        using var rsa = certificate.GetRSAPublicKey();
        using var ecdsa = rsa is null ? certificate.GetECDsaPublicKey() : null;
        var valid = rsa?.VerifyData(statement, signature, HashAlgorithmName.SHA256, RSASignaturePadding.Pkcs1)
            ?? ecdsa?.VerifyData(statement, signature, HashAlgorithmName.SHA256)
            ?? false;
        if (!valid)
        {
            certificate.Dispose();
            reason = "bad assertion signature";
            return null;
        }

        reason = "";
        return certificate;
    }

    private static byte[] Statement(string clusterId, long seconds) =>
        Encoding.UTF8.GetBytes($"{Purpose}\n{clusterId}\n{seconds.ToString(System.Globalization.CultureInfo.InvariantCulture)}");
}
