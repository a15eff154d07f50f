using System.Security.Authentication;
using System.Security.Cryptography.X509Certificates;
using Microsoft.Extensions.Options;

namespace Granary.Client.Security;

/// <summary>
/// Section <c>Granary:Security:Tls</c>: mutual TLS between silos and between clients and gateways.
/// Off by default. When on, every connection is TLS and both ends show a certificate: a silo's own
/// certificate (<see cref="CertificateFile"/> and <see cref="KeyFile"/>, or the OS store) serves its
/// silo and gateway ports and is its client certificate towards other silos; a client's is its
/// client certificate towards the gateway. Who is trusted as what is separate: a peer on the silo
/// port must pass <see cref="Silos"/>; a client on the gateway port must pass <see cref="Clients"/>
/// (or <see cref="Silos"/>); a client checks the gateway against <see cref="Silos"/>.
/// </summary>
/// <example><code>
/// "Granary": { "Security": { "Tls": {
///   "Enabled": true, "CertificateFile": "/etc/granary/silo.pem", "KeyFile": "/etc/granary/silo.key",
///   "Silos": { "CaFile": "/etc/granary/ca.pem", "Thumbprints": [ "3F2A…" ] },
///   "Clients": { "CaFile": "/etc/granary/ca.pem" } } } }
/// </code></example>
public sealed class GranaryTlsOptions
{
    /// <summary>The configuration section bound to this class.</summary>
    public const string SectionName = "Granary:Security:Tls";

    /// <summary>TLS on every silo-to-silo and client-to-gateway connection. Default false.</summary>
    public bool Enabled { get; set; }

    /// <summary>
    /// PEM file of this process's certificate (the leaf first). Its private key is in
    /// <see cref="KeyFile"/>, or in this file when <see cref="KeyFile"/> is unset. Either this or
    /// <see cref="StoreThumbprint"/>/<see cref="StoreSubject"/>. Default unset.
    /// </summary>
    public string? CertificateFile { get; set; }

    /// <summary>PEM file of the private key of <see cref="CertificateFile"/> (PKCS#8 or PKCS#1, not encrypted). Default unset.</summary>
    public string? KeyFile { get; set; }

    /// <summary>OS certificate store to take the certificate from (with <see cref="StoreThumbprint"/> or <see cref="StoreSubject"/>). Default <c>My</c>.</summary>
    public StoreName StoreName { get; set; } = StoreName.My;

    /// <summary>Location of <see cref="StoreName"/>. Default <c>CurrentUser</c>.</summary>
    public StoreLocation StoreLocation { get; set; } = StoreLocation.CurrentUser;

    /// <summary>SHA-1 thumbprint (hex) of the certificate to take from the OS store. Default unset.</summary>
    public string? StoreThumbprint { get; set; }

    /// <summary>Subject name of the certificate to take from the OS store (the valid one that expires last). Default unset.</summary>
    public string? StoreSubject { get; set; }

    /// <summary>Which certificates are trusted as silos (on the silo port; by clients, as gateways).</summary>
    public TlsPeerTrustOptions Silos { get; set; } = new();

    /// <summary>
    /// Which certificates are trusted as clients on the gateway port (silo certificates are accepted
    /// there too). Empty: only certificates trusted as silos may connect as clients.
    /// </summary>
    public TlsPeerTrustOptions Clients { get; set; } = new();

    /// <summary>How the revocation of a peer's certificate chain is checked. Default <c>NoCheck</c> (a private CA rarely publishes revocation lists); <c>Online</c> or <c>Offline</c> to check.</summary>
    public X509RevocationMode RevocationMode { get; set; } = X509RevocationMode.NoCheck;

    /// <summary>TLS versions allowed: <c>Tls12</c>, <c>Tls13</c> or both (<c>"Tls12, Tls13"</c>). Default both.</summary>
    public SslProtocols Protocols { get; set; } = SslProtocols.Tls12 | SslProtocols.Tls13;

    /// <summary>Longest time a TLS handshake may take before the connection is dropped. Default 10 s; between 100 ms and 5 minutes.</summary>
    public TimeSpan HandshakeTimeout { get; set; } = TimeSpan.FromSeconds(10);

    /// <summary>
    /// Shortest time between two warnings about refused handshakes; refusals in between are counted
    /// and reported with the next warning (a port scan does not flood the log). Default 10 s.
    /// </summary>
    public TimeSpan HandshakeFailureLogInterval { get; set; } = TimeSpan.FromSeconds(10);

    /// <summary>True when a certificate comes from files rather than the OS store.</summary>
    internal bool UsesFiles => !string.IsNullOrWhiteSpace(CertificateFile);
}

/// <summary>
/// Which remote certificates are trusted in one role. When both are given, a certificate must pass
/// both (issued under the CA and pinned); at least one is required when TLS is on.
/// </summary>
public sealed class TlsPeerTrustOptions
{
    /// <summary>
    /// PEM file of the issuing CA certificates (roots and intermediates). The remote certificate must
    /// chain to one of them; the OS trust store is not consulted. Default unset.
    /// </summary>
    public string? CaFile { get; set; }

    /// <summary>SHA-1 thumbprints (hex; spaces and colons ignored) of the certificates allowed in this role. Default empty.</summary>
    public string[] Thumbprints { get; set; } = [];

    /// <summary>True when neither a CA nor a thumbprint is given.</summary>
    internal bool IsEmpty => string.IsNullOrWhiteSpace(CaFile) && Thumbprints.Length == 0;
}

/// <summary>Validates <see cref="GranaryTlsOptions"/> at start-up: when TLS is on, a certificate, the files it names and a trust for silos.</summary>
public sealed class GranaryTlsOptionsValidator : IValidateOptions<GranaryTlsOptions>
{
    /// <inheritdoc/>
    public ValidateOptionsResult Validate(string? name, GranaryTlsOptions options)
    {
        ArgumentNullException.ThrowIfNull(options);
        if (!options.Enabled)
        {
            return ValidateOptionsResult.Success;
        }

        const string s = GranaryTlsOptions.SectionName;
        var errors = new List<string>();
        var hasStore = !string.IsNullOrWhiteSpace(options.StoreThumbprint) || !string.IsNullOrWhiteSpace(options.StoreSubject);
        if (!options.UsesFiles && !hasStore)
        {
            errors.Add($"{s}:Enabled is true but no certificate is given: set {s}:CertificateFile and {s}:KeyFile (PEM files), or {s}:StoreThumbprint or {s}:StoreSubject (OS certificate store).");
        }
        else if (options.UsesFiles && hasStore)
        {
            errors.Add($"{s}: give the certificate either as files (CertificateFile) or from the OS store (StoreThumbprint/StoreSubject), not both.");
        }
        else if (options.UsesFiles)
        {
            RequireFile(errors, $"{s}:CertificateFile", options.CertificateFile);
            if (!string.IsNullOrWhiteSpace(options.KeyFile))
            {
                RequireFile(errors, $"{s}:KeyFile", options.KeyFile);
            }
        }
        else if (!string.IsNullOrWhiteSpace(options.StoreThumbprint) && !TlsThumbprint.IsValid(options.StoreThumbprint))
        {
            errors.Add($"{s}:StoreThumbprint '{options.StoreThumbprint}' is not a SHA-1 thumbprint (40 hex digits).");
        }

        if (options.Silos.IsEmpty)
        {
            errors.Add($"{s}:Silos: give CaFile (the CA that issues silo certificates) and/or Thumbprints (the silo certificates): nothing is trusted as a silo otherwise.");
        }

        ValidateTrust(errors, $"{s}:Silos", options.Silos);
        ValidateTrust(errors, $"{s}:Clients", options.Clients);
        if (options.Protocols == SslProtocols.None || (options.Protocols & ~(SslProtocols.Tls12 | SslProtocols.Tls13)) != 0)
        {
            errors.Add($"{s}:Protocols must be Tls12, Tls13 or \"Tls12, Tls13\" (was {options.Protocols}).");
        }

        if (!Enum.IsDefined(options.RevocationMode))
        {
            errors.Add($"{s}:RevocationMode must be NoCheck, Online or Offline.");
        }

        if (options.HandshakeTimeout < TimeSpan.FromMilliseconds(100) || options.HandshakeTimeout > TimeSpan.FromMinutes(5))
        {
            errors.Add($"{s}:HandshakeTimeout must be between 00:00:00.1 and 00:05:00 (was {options.HandshakeTimeout}).");
        }

        if (options.HandshakeFailureLogInterval < TimeSpan.Zero || options.HandshakeFailureLogInterval > TimeSpan.FromHours(1))
        {
            errors.Add($"{s}:HandshakeFailureLogInterval must be between 00:00:00 and 01:00:00 (was {options.HandshakeFailureLogInterval}).");
        }

        return errors.Count == 0 ? ValidateOptionsResult.Success : ValidateOptionsResult.Fail(errors);
    }

    private static void ValidateTrust(List<string> errors, string section, TlsPeerTrustOptions trust)
    {
        if (!string.IsNullOrWhiteSpace(trust.CaFile))
        {
            RequireFile(errors, section + ":CaFile", trust.CaFile);
        }

        foreach (var thumbprint in trust.Thumbprints)
        {
            if (!TlsThumbprint.IsValid(thumbprint))
            {
                errors.Add($"{section}:Thumbprints: '{thumbprint}' is not a SHA-1 thumbprint (40 hex digits).");
            }
        }
    }

    private static void RequireFile(List<string> errors, string setting, string? path)
    {
        if (!File.Exists(path))
        {
            errors.Add($"{setting}: file '{path}' does not exist (relative paths are from the working directory {Environment.CurrentDirectory}).");
        }
    }
}

/// <summary>Certificate thumbprints as configuration gives them.</summary>
internal static class TlsThumbprint
{
    /// <summary>Upper-case hex without separators.</summary>
    public static string Normalize(string thumbprint) =>
        new string(thumbprint.Where(c => c is not (' ' or ':' or '-')).ToArray()).ToUpperInvariant();

    /// <summary>True for 40 hex digits once separators are removed.</summary>
    public static bool IsValid(string? thumbprint) =>
        thumbprint is not null && Normalize(thumbprint) is { Length: 40 } n && n.All(char.IsAsciiHexDigit);
}
