using System.Globalization;
using Granary.Client.Security;
using Microsoft.Extensions.Options;

namespace Granary.Server.Security;

/// <summary>Fails start-up with one clear message per mistake in <c>Granary:Security:Identities</c> and <c>Authorization</c>.</summary>
public sealed class IdentityOptionsValidator : IValidateOptions<IdentityOptions>
{
    /// <inheritdoc/>
    public ValidateOptionsResult Validate(string? name, IdentityOptions options)
    {
        ArgumentNullException.ThrowIfNull(options);
        var errors = new List<string>();
        var section = IdentityOptions.SectionName;
        if (options.Authorization.Enabled == true && !options.IsEnforced)
        {
            errors.Add($"{section}:Authorization:Enabled is true but {section}:Identities is empty: configure at least one identity (or remove the guard).");
        }

        if (options.Authorization.Enabled == false && options.IsEnforced)
        {
            errors.Add($"{section}:Authorization:Enabled is false but {options.Identities.Count} identities are configured: authorization is on whenever identities are; remove them or the guard.");
        }

        if (options.Authorization.DeniedLogInterval <= TimeSpan.Zero || options.Authorization.DeniedLogInterval > TimeSpan.FromHours(1))
        {
            errors.Add($"{section}:Authorization:DeniedLogInterval must be above 0 and at most 1 hour (got {options.Authorization.DeniedLogInterval}).");
        }

        if (options.Authorization.AssertionLifetime < TimeSpan.FromMinutes(5) || options.Authorization.AssertionLifetime > TimeSpan.FromHours(1))
        {
            errors.Add($"{section}:Authorization:AssertionLifetime must be between 5 minutes and 1 hour (clients sign a new assertion every 2 minutes; got {options.Authorization.AssertionLifetime}).");
        }

        var hasAuthority = !string.IsNullOrWhiteSpace(options.Authorization.ClientCertificateAuthorityFile);
        if (hasAuthority)
        {
            try
            {
                using var authority = IdentityTable.ReadAuthority(options.Authorization.ClientCertificateAuthorityFile!);
            }
            catch (Exception ex) when (ex is IOException or UnauthorizedAccessException or System.Security.Cryptography.CryptographicException)
            {
                errors.Add($"{section}:Authorization:ClientCertificateAuthorityFile: {ex.Message}");
            }
        }

        var names = new HashSet<string>(StringComparer.OrdinalIgnoreCase);
        var thumbprints = new HashSet<string>(StringComparer.OrdinalIgnoreCase);
        var subjects = new HashSet<string>(StringComparer.Ordinal);
        var hashes = new HashSet<string>(StringComparer.OrdinalIgnoreCase);
        for (var i = 0; i < options.Identities.Count; i++)
        {
            var identity = options.Identities[i];
            var at = $"{section}:Identities:{i.ToString(CultureInfo.InvariantCulture)}";
            if (!IdentityTable.IsValidName(identity.Name))
            {
                errors.Add($"{at}:Name must be 1 to 64 letters, digits or -_.@ (got '{identity.Name}').");
            }
            else if (!names.Add(identity.Name))
            {
                errors.Add($"{at}:Name '{identity.Name}' is configured twice.");
            }

            if (identity.Permissions.Count == 0)
            {
                errors.Add($"{at}:Permissions is empty: grant at least one ({string.Join(", ", PermissionNames.Grantable.Select(PermissionNames.NameOf))}, a family wildcard such as cache:* or *).");
            }

            foreach (var permission in identity.Permissions)
            {
                if (!PermissionNames.TryParse(permission, out _))
                {
                    errors.Add($"{at}:Permissions names '{permission}', which is not a permission (known: {string.Join(", ", PermissionNames.Grantable.Select(PermissionNames.NameOf))}, family wildcards such as cache:*, and *).");
                }
            }

            var hasCertificate = identity.CertificateThumbprints.Count > 0 || identity.CertificateSubjects.Count > 0;
            ValidateToken(identity, at, errors, hashes, hasCertificate);
            foreach (var thumbprint in identity.CertificateThumbprints)
            {
                if (!IdentityTable.IsSha256Hex(thumbprint))
                {
                    errors.Add($"{at}:CertificateThumbprints: '{thumbprint}' is not a SHA-256 thumbprint (64 hex digits).");
                }
                else if (!thumbprints.Add(thumbprint))
                {
                    errors.Add($"{at}:CertificateThumbprints: '{thumbprint}' is configured for two identities.");
                }
            }

            foreach (var subject in identity.CertificateSubjects)
            {
                if (!hasAuthority)
                {
                    errors.Add($"{at}:CertificateSubjects needs {section}:Authorization:ClientCertificateAuthorityFile (the CA that issues those certificates).");
                }
                else if (string.IsNullOrWhiteSpace(subject) || !subjects.Add(subject.Trim()))
                {
                    errors.Add($"{at}:CertificateSubjects: '{subject}' is empty or configured for two identities.");
                }
            }
        }

        return errors.Count == 0 ? ValidateOptionsResult.Success : ValidateOptionsResult.Fail(errors);
    }

    private static void ValidateToken(ClientIdentityOptions identity, string at, List<string> errors, HashSet<string> hashes, bool hasCertificate)
    {
        var hasHash = !string.IsNullOrWhiteSpace(identity.TokenSha256);
        var hasFile = !string.IsNullOrWhiteSpace(identity.TokenFile);
        if (hasHash && hasFile)
        {
            errors.Add($"{at} has both TokenSha256 and TokenFile: give one.");
            return;
        }

        if (!hasHash && !hasFile)
        {
            if (!hasCertificate)
            {
                errors.Add($"{at} needs a credential: TokenSha256 (the token's SHA-256 as 64 hex digits), TokenFile, CertificateThumbprints or CertificateSubjects.");
            }

            return;
        }

        string hash;
        if (hasHash)
        {
            hash = identity.TokenSha256!.Trim();
            if (!IdentityTable.IsSha256Hex(hash))
            {
                errors.Add($"{at}:TokenSha256 must be 64 hex digits (the SHA-256 of the token, not the token itself).");
                return;
            }
        }
        else
        {
            try
            {
                hash = IdentityTable.HashHex(ClientCredentials.ReadTokenFile(identity.TokenFile!));
            }
            catch (Exception ex) when (ex is IOException or UnauthorizedAccessException or FormatException)
            {
                errors.Add($"{at}:TokenFile: {ex.Message}");
                return;
            }
        }

        if (!hashes.Add(hash))
        {
            errors.Add($"{at}: the same token is configured for two identities.");
        }
    }
}
