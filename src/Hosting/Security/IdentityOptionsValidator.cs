using System.Globalization;
using Microsoft.Extensions.Options;

namespace Granary.Hosting.Security;

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

        var names = new HashSet<string>(StringComparer.OrdinalIgnoreCase);
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

            ValidateToken(identity, at, errors, hashes);
        }

        return errors.Count == 0 ? ValidateOptionsResult.Success : ValidateOptionsResult.Fail(errors);
    }

    private static void ValidateToken(ClientIdentityOptions identity, string at, List<string> errors, HashSet<string> hashes)
    {
        var hasHash = !string.IsNullOrWhiteSpace(identity.TokenSha256);
        var hasFile = !string.IsNullOrWhiteSpace(identity.TokenFile);
        if (hasHash == hasFile)
        {
            errors.Add($"{at} needs exactly one credential: TokenSha256 (the token's SHA-256 as 64 hex digits) or TokenFile.");
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
                hash = IdentityTable.HashHex(IdentityTable.ReadTokenFile(identity.TokenFile!));
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
