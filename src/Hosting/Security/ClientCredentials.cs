namespace Granary.Server.Security;

/// <summary>
/// How a client's credential travels with its calls: in Orleans' request context under these keys,
/// set by the client's credential filter (<see cref="ClientCredentialFilter"/>) and taken out of the
/// context by the silo's check before the grain runs, so grain code never sees (or forwards) it.
/// </summary>
public static class ClientCredentials
{
    /// <summary>The request-context key of a token.</summary>
    public const string TokenKey = "granary.auth.token";

    /// <summary>The request-context key of a signed client-certificate assertion (<see cref="ClientCertificateAssertion"/>).</summary>
    public const string AssertionKey = "granary.auth.cert";
}
