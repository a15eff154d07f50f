using Microsoft.Extensions.Options;

namespace Granary.Client.Security;

/// <summary>Fails client start-up with a clear message when <c>Granary:Client</c>'s credential is unusable.</summary>
public sealed class ClientCredentialOptionsValidator : IValidateOptions<ClientCredentialOptions>
{
    /// <inheritdoc/>
    public ValidateOptionsResult Validate(string? name, ClientCredentialOptions options)
    {
        ArgumentNullException.ThrowIfNull(options);
        var section = ClientCredentialOptions.SectionName;
        if (!string.IsNullOrWhiteSpace(options.Token) && !string.IsNullOrWhiteSpace(options.TokenFile))
        {
            return ValidateOptionsResult.Fail($"{section}: set Token or TokenFile, not both.");
        }

        if (options.Token is { } token && token.Trim().Length > ClientCredentials.MaxTokenLength)
        {
            return ValidateOptionsResult.Fail($"{section}:Token is longer than {ClientCredentials.MaxTokenLength} characters.");
        }

        var hasToken = !string.IsNullOrWhiteSpace(options.Token) || !string.IsNullOrWhiteSpace(options.TokenFile);
        var hasCertificate = !string.IsNullOrWhiteSpace(options.CertificateFile);
        if (hasCertificate == string.IsNullOrWhiteSpace(options.CertificateKeyFile))
        {
            return ValidateOptionsResult.Fail($"{section}: CertificateFile and CertificateKeyFile go together.");
        }

        if (hasToken && hasCertificate)
        {
            return ValidateOptionsResult.Fail($"{section}: use a token or a certificate, not both.");
        }

        try
        {
            options.ResolveToken();
            using var certificate = options.LoadCertificate();
        }
        catch (Exception ex) when (ex is IOException or UnauthorizedAccessException or FormatException)
        {
            return ValidateOptionsResult.Fail($"{section}:TokenFile: {ex.Message}");
        }
        catch (System.Security.Cryptography.CryptographicException ex)
        {
            return ValidateOptionsResult.Fail($"{section}:CertificateFile/CertificateKeyFile: {ex.Message}");
        }

        return ValidateOptionsResult.Success;
    }
}
