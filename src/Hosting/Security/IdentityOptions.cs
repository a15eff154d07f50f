namespace Granary.Server.Security;

/// <summary>
/// Client identities and what each may do (section <c>Granary:Security</c>, keys <c>Identities</c> and
/// <c>Authorization</c>). Authorization is on exactly when at least one identity is configured: then
/// every client call must carry a credential of a configured identity holding the permission the
/// method needs (deny by default); with no identity, client calls to public methods run as before.
/// </summary>
/// <example><code>
/// "Granary": { "Security": {
///   "Authorization": { "Enabled": true },
///   "Identities": [
///     { "Name": "operator", "Permissions": [ "*" ], "TokenFile": "/etc/granary/operator.token" },
///     { "Name": "shop", "Permissions": [ "cache:read", "cache:write", "queue:produce" ],
///       "TokenSha256": "9f86d081884c7d659a2feaa0c55ad015a3bf4f1b2b0b822cd15d6c15b0f00a08" } ] } }
/// </code></example>
public sealed class IdentityOptions
{
    /// <summary>The configuration section bound to this class.</summary>
    public const string SectionName = "Granary:Security";

    /// <summary>The identities. Default none (authorization off).</summary>
    public IList<ClientIdentityOptions> Identities { get; } = [];

    /// <summary>Settings of the check itself.</summary>
    public AuthorizationOptions Authorization { get; set; } = new();

    /// <summary>True when client calls are checked (at least one identity is configured).</summary>
    public bool IsEnforced => Identities.Count > 0;
}

/// <summary>Settings of the client-call check (<c>Granary:Security:Authorization</c>).</summary>
public sealed class AuthorizationOptions
{
    /// <summary>
    /// A guard, not a switch: <c>true</c> makes start-up fail when no identity is configured (so a
    /// configuration that lost its identities cannot open the cluster to everyone); <c>false</c> makes
    /// it fail when identities are configured. Default null (no guard).
    /// </summary>
    public bool? Enabled { get; set; }

    /// <summary>
    /// Shortest interval between two log lines about refused calls of the same identity, method and
    /// reason; the ones in between are counted and reported with the next line (the
    /// <c>granary.security.denied_calls</c> counter counts every one). Default 1 minute.
    /// </summary>
    public TimeSpan DeniedLogInterval { get; set; } = TimeSpan.FromMinutes(1);

    /// <summary>
    /// PEM file of the CA whose certificates identities may name by subject
    /// (<see cref="ClientIdentityOptions.CertificateSubjects"/>). Default none.
    /// </summary>
    public string? ClientCertificateAuthorityFile { get; set; }

    /// <summary>
    /// How long a client's signed certificate assertion is accepted after it was signed (clients sign
    /// a new one every 2 minutes). 5 minutes to 1 hour; default 10 minutes.
    /// </summary>
    public TimeSpan AssertionLifetime { get; set; } = TimeSpan.FromMinutes(10);
}

/// <summary>
/// One client identity (an element of <c>Granary:Security:Identities</c>): a token (as its hash or a
/// file), client certificates (by thumbprint or by subject under the configured CA), or both.
/// </summary>
public sealed class ClientIdentityOptions
{
    /// <summary>The name, shown in audit logs and errors (letters, digits, <c>-_.@</c>). Required and unique.</summary>
    public string Name { get; set; } = "";

    /// <summary>
    /// What the identity may do: permission names (<c>cache:read</c>, <c>queue:produce</c>, ...), family
    /// wildcards (<c>cache:*</c>) or <c>*</c> (everything). Unknown names fail start-up. At least one.
    /// </summary>
    public IList<string> Permissions { get; } = [];

    /// <summary>
    /// The SHA-256 of the identity's token, as 64 hex digits (the token itself is never stored in
    /// configuration: <c>printf %s "$TOKEN" | sha256sum</c>). Exclusive with <see cref="TokenFile"/>.
    /// </summary>
    public string? TokenSha256 { get; set; }

    /// <summary>
    /// A file holding the identity's token (one line, at least 32 characters, read and hashed at
    /// start-up; keep it readable by the silo's user only). Exclusive with <see cref="TokenSha256"/>.
    /// </summary>
    public string? TokenFile { get; set; }

    /// <summary>
    /// Client certificates of this identity, pinned by SHA-256 thumbprint (64 hex digits of the DER
    /// certificate's hash: <c>openssl x509 -in client.pem -noout -fingerprint -sha256</c>). Default none.
    /// </summary>
    public IList<string> CertificateThumbprints { get; } = [];

    /// <summary>
    /// Client certificates of this identity by exact subject (<c>CN=operator</c>), accepted when issued
    /// by <see cref="AuthorizationOptions.ClientCertificateAuthorityFile"/>. Default none.
    /// </summary>
    public IList<string> CertificateSubjects { get; } = [];
}
