namespace Granary.Client.Security;

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

    /// <summary>Longest token accepted (longer ones are refused without hashing).</summary>
    public const int MaxTokenLength = 512;

    /// <summary>Shortest token a token file may hold.</summary>
    public const int MinTokenLength = 32;

    /// <summary>Reads a token file: its first line, trimmed; at least <see cref="MinTokenLength"/> characters.</summary>
    /// <exception cref="FormatException">The file holds no usable token.</exception>
    public static string ReadTokenFile(string path)
    {
        ArgumentNullException.ThrowIfNull(path);
        using var reader = new StreamReader(path);
        var token = reader.ReadLine()?.Trim() ?? "";
        if (token.Length < MinTokenLength || token.Length > MaxTokenLength)
        {
            throw new FormatException($"'{path}' must hold a token of {MinTokenLength} to {MaxTokenLength} characters on its first line (found {token.Length}).");
        }

        return token;
    }
}
