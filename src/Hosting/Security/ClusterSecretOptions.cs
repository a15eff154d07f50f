using Granary.Client.Configuration;
using Granary.Server.Options;
using Microsoft.Extensions.Options;

namespace Granary.Server.Security;

/// <summary>
/// Keys <c>Granary:Security:ClusterSecret</c> and <c>Granary:Security:ClusterSecretFile</c>: the
/// secret the silos of one cluster share, from which each silo derives the proof it stamps on its
/// calls to grains (see <see cref="ClusterProof"/>). Clients never hold it. Give it through any
/// configuration source (for example the environment variable
/// <c>Granary__Security__ClusterSecretFile</c>); never commit it.
/// </summary>
public sealed class ClusterSecretOptions
{
    /// <summary>The configuration section bound to this class.</summary>
    public const string SectionName = "Granary:Security";

    /// <summary>Shortest accepted secret, in characters.</summary>
    public const int MinimumLength = 16;

    /// <summary>The secret itself (at least <see cref="MinimumLength"/> characters). Default: unset.</summary>
    public string? ClusterSecret { get; set; }

    /// <summary>
    /// A file holding the secret (surrounding white space is ignored). It must not be readable by the
    /// file's group or by others (mode 0600 or 0400). Default: unset.
    /// </summary>
    public string? ClusterSecretFile { get; set; }
}

/// <summary>
/// Fails start-up with a clear message when the cluster secret is missing where silos on several
/// machines must agree (<see cref="ClusteringMode.Redis"/>), set twice, too short, or in a file that
/// others can read. In <see cref="ClusteringMode.Localhost"/> (one machine: the quick start, the
/// console's embedded silo, tests) an unset secret is derived, with a warning (<see cref="ClusterProof"/>).
/// </summary>
public sealed class ClusterSecretOptionsValidator(ClusteringMode mode) : IValidateOptions<ClusterSecretOptions>
{
    private const UnixFileMode GroupOrOthers =
        UnixFileMode.GroupRead | UnixFileMode.GroupWrite | UnixFileMode.GroupExecute |
        UnixFileMode.OtherRead | UnixFileMode.OtherWrite | UnixFileMode.OtherExecute;

    /// <inheritdoc/>
    public ValidateOptionsResult Validate(string? name, ClusterSecretOptions options)
    {
        ArgumentNullException.ThrowIfNull(options);
        var section = ClusterSecretOptions.SectionName;
        var inline = !string.IsNullOrEmpty(options.ClusterSecret);
        var file = !string.IsNullOrEmpty(options.ClusterSecretFile);
        if (inline && file)
        {
            return ValidateOptionsResult.Fail($"{section}: set ClusterSecret or ClusterSecretFile, not both.");
        }

        if (!inline && !file)
        {
            return mode == ClusteringMode.Redis
                ? ValidateOptionsResult.Fail(
                    $"{section}:ClusterSecret (or {section}:ClusterSecretFile) is required when {GranaryClusterOptions.SectionName}:Mode is Redis: " +
                    "every silo of the cluster needs the same secret to prove its calls come from a silo (for example " +
                    "Granary__Security__ClusterSecretFile=/etc/granary/cluster-secret, a file of mode 0600 holding 32 random bytes in base64).")
                : ValidateOptionsResult.Success;
        }

        string secret;
        try
        {
            secret = Read(options);
        }
        catch (Exception ex) when (ex is IOException or UnauthorizedAccessException)
        {
            return ValidateOptionsResult.Fail($"{section}:ClusterSecretFile '{options.ClusterSecretFile}' cannot be read: {ex.Message}");
        }

        if (file && !OperatingSystem.IsWindows() && (File.GetUnixFileMode(options.ClusterSecretFile!) & GroupOrOthers) != 0)
        {
            return ValidateOptionsResult.Fail(
                $"{section}:ClusterSecretFile '{options.ClusterSecretFile}' is readable or writable by its group or others; make it private (chmod 600).");
        }

        return secret.Length < ClusterSecretOptions.MinimumLength
            ? ValidateOptionsResult.Fail(
                $"{section}:{(file ? "ClusterSecretFile holds" : "ClusterSecret is")} a secret of {secret.Length} characters; at least {ClusterSecretOptions.MinimumLength} are needed (for example 32 random bytes in base64).")
            : ValidateOptionsResult.Success;
    }

    /// <summary>The configured secret (trimmed), read from the file when one is named; empty when neither is set.</summary>
    internal static string Read(ClusterSecretOptions options) =>
        !string.IsNullOrEmpty(options.ClusterSecretFile)
            ? File.ReadAllText(options.ClusterSecretFile).Trim()
            : (options.ClusterSecret ?? string.Empty).Trim();
}
