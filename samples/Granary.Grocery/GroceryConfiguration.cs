using Microsoft.Extensions.Configuration;
using Microsoft.Extensions.Configuration.EnvironmentVariables;
using Microsoft.Extensions.Configuration.Json;

namespace Granary.Grocery;

/// <summary>The configuration sources the sample's processes add to their host's own.</summary>
public static class GroceryConfiguration
{
    /// <summary>Path, relative to the working directory, of the file <c>scripts/cluster.sh up</c> writes.</summary>
    public const string LocalClusterFile = ".local/cluster.json";

    /// <summary>
    /// Adds, lowest precedence first: the <c>appsettings.json</c> next to the executable (below every
    /// other source, so the process finds its settings whatever the working directory), and
    /// <c>.local/cluster.json</c> of the working directory just below the environment variables (so
    /// that, run from the repository root, it finds the cluster <c>scripts/cluster.sh up</c> started,
    /// and <c>Granary__...</c> variables and the command line still win). Both are optional.
    /// </summary>
    public static IConfigurationBuilder AddGrocerySources(this IConfigurationBuilder configuration)
    {
        ArgumentNullException.ThrowIfNull(configuration);
        configuration.Sources.Insert(0, Json(Path.Combine(AppContext.BaseDirectory, "appsettings.json")));
        var local = Json(Path.GetFullPath(LocalClusterFile));
        var environment = configuration.Sources.ToList().FindLastIndex(s => s is EnvironmentVariablesConfigurationSource);
        if (environment < 0)
        {
            configuration.Sources.Add(local);
        }
        else
        {
            configuration.Sources.Insert(environment, local);
        }

        return configuration;
    }

    private static JsonConfigurationSource Json(string path)
    {
        var source = new JsonConfigurationSource { Path = path, Optional = true, ReloadOnChange = false };
        source.ResolveFileProvider();
        return source;
    }
}
