using Microsoft.Extensions.Configuration;
using Microsoft.Extensions.Configuration.EnvironmentVariables;
using Microsoft.Extensions.Configuration.Json;

namespace Granary.Grocery;

/// <summary>Finds the cluster that <c>scripts/cluster.sh up</c> started when the sample runs from the repository root.</summary>
public static class LocalClusterFile
{
    /// <summary>Path, relative to the working directory, of the file <c>scripts/cluster.sh up</c> writes.</summary>
    public const string RelativePath = ".local/cluster.json";

    /// <summary>
    /// Adds <c>.local/cluster.json</c> of the working directory (optional) just below the environment
    /// variables, so that <c>Granary__...</c> variables and the command line still win over it.
    /// </summary>
    public static IConfigurationBuilder AddLocalClusterFile(this IConfigurationBuilder configuration)
    {
        ArgumentNullException.ThrowIfNull(configuration);
        var source = new JsonConfigurationSource { Path = Path.GetFullPath(RelativePath), Optional = true, ReloadOnChange = false };
        source.ResolveFileProvider();
        var environment = configuration.Sources.ToList().FindIndex(s => s is EnvironmentVariablesConfigurationSource);
        if (environment < 0)
        {
            configuration.Sources.Add(source);
        }
        else
        {
            configuration.Sources.Insert(environment, source);
        }

        return configuration;
    }
}
