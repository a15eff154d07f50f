using Microsoft.Extensions.Configuration;

namespace Granary.Server.Configuration;

/// <summary>
/// The configuration sources shared by the silo and the console, lowest precedence first:
/// <list type="number">
/// <item><c>appsettings.json</c> next to the executable (the repository's root file, copied at build);</item>
/// <item><c>appsettings.json</c> in the working directory;</item>
/// <item><c>.local/cluster.json</c> in the working directory (written by <c>scripts/cluster.sh up</c>);</item>
/// <item>the file named by the <c>GRANARY_CONFIG</c> environment variable;</item>
/// <item>the file named by the <c>GRANARY_SECRETS_FILE</c> environment variable (refused when group or others may read it);</item>
/// <item>environment variables (<c>Granary__Cluster__Mode=Redis</c>, <c>Orleans__ClusterId=...</c>);</item>
/// <item>command-line <c>--Section:Key=value</c> pairs (silo only);</item>
/// <item>last, the connection strings with the server credentials of <c>Granary:Security:Servers</c>
/// filled in (<see cref="ServerSecrets.AddServerCredentials"/>).</item>
/// </list>
/// </summary>
public static class GranaryConfiguration
{
    /// <summary>Environment variable naming an extra JSON file.</summary>
    public const string ConfigFileVariable = "GRANARY_CONFIG";

    /// <summary>Path, relative to the working directory, of the local cluster override file.</summary>
    public const string LocalClusterFile = ".local/cluster.json";

    /// <summary>Adds Granary's sources to <paramref name="builder"/>.</summary>
    public static IConfigurationBuilder AddGranarySources(this IConfigurationBuilder builder, string[]? commandLine = null)
    {
        ArgumentNullException.ThrowIfNull(builder);
        var baseFile = Path.Combine(AppContext.BaseDirectory, "appsettings.json");
        var cwdFile = Path.GetFullPath("appsettings.json");
        builder.AddJsonFile(baseFile, optional: true, reloadOnChange: false);
        if (!string.Equals(baseFile, cwdFile, StringComparison.Ordinal))
        {
            builder.AddJsonFile(cwdFile, optional: true, reloadOnChange: false);
        }

        builder.AddJsonFile(Path.GetFullPath(LocalClusterFile), optional: true, reloadOnChange: false);
        var extra = Environment.GetEnvironmentVariable(ConfigFileVariable);
        if (!string.IsNullOrWhiteSpace(extra))
        {
            if (!File.Exists(extra))
            {
                throw new FileNotFoundException($"{ConfigFileVariable} names '{extra}', which does not exist.", extra);
            }

            builder.AddJsonFile(Path.GetFullPath(extra), optional: false, reloadOnChange: false);
        }

        builder.AddSecretsFile();
        builder.AddEnvironmentVariables();
        if (commandLine is { Length: > 0 })
        {
            builder.AddCommandLine(commandLine);
        }

        return builder.AddServerCredentials();
    }

    /// <summary>Builds a standalone configuration from Granary's sources.</summary>
    public static IConfigurationRoot Build(string[]? commandLine = null) =>
        new ConfigurationBuilder().AddGranarySources(commandLine).Build();
}
