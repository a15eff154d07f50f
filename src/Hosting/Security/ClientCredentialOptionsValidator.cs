using Microsoft.Extensions.Options;

namespace Granary.Hosting.Security;

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

        if (options.Token is { } token && token.Trim().Length > IdentityTable.MaxTokenLength)
        {
            return ValidateOptionsResult.Fail($"{section}:Token is longer than {IdentityTable.MaxTokenLength} characters.");
        }

        try
        {
            options.ResolveToken();
        }
        catch (Exception ex) when (ex is IOException or UnauthorizedAccessException or FormatException)
        {
            return ValidateOptionsResult.Fail($"{section}:TokenFile: {ex.Message}");
        }

        return ValidateOptionsResult.Success;
    }
}
