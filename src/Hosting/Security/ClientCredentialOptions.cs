namespace Granary.Hosting.Security;

/// <summary>
/// The credential a client attaches to every call (section <c>Granary:Client</c>): the token of its
/// identity, given directly (for example by the environment variable <c>Granary__Client__Token</c>)
/// or as a file. With neither, calls carry no credential (enough for a cluster without identities).
/// </summary>
public sealed class ClientCredentialOptions
{
    /// <summary>The configuration section bound to this class.</summary>
    public const string SectionName = "Granary:Client";

    /// <summary>The token. Default none. Exclusive with <see cref="TokenFile"/>.</summary>
    public string? Token { get; set; }

    /// <summary>A file whose first line is the token (keep it readable by its owner only). Default none.</summary>
    public string? TokenFile { get; set; }

    /// <summary>The token to send: <see cref="Token"/>, or the first line of <see cref="TokenFile"/>; null for none.</summary>
    public string? ResolveToken() =>
        !string.IsNullOrWhiteSpace(Token) ? Token.Trim()
        : !string.IsNullOrWhiteSpace(TokenFile) ? IdentityTable.ReadTokenFile(TokenFile)
        : null;
}
