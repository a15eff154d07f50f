using System.Text.Json;

namespace Granary.Tests.Conventions;

/// <summary>
/// The client package stays a client: the package closure restored for <c>src/Sdk</c> (its
/// <c>obj/project.assets.json</c>, the exact input of its build and of its package's dependency
/// list) holds nothing that only a silo needs.
/// </summary>
public sealed class ClientDependencyTests
{
    /// <summary>Packages a client never needs: the silo runtime's hosting, its stores, the benchmark peers.</summary>
    private static readonly string[] ServerOnly =
    [
        "Microsoft.Orleans.Server",
        "Microsoft.Orleans.Persistence.AdoNet",
        "Microsoft.Orleans.Transactions",
        "Npgsql",
        "DistributedLock.Postgres",
        "DistributedLock.Redis",
        "OpenTelemetry.Exporter.OpenTelemetryProtocol",
        "OpenTelemetry.Exporter.Console",
    ];

    /// <summary>
    /// Orleans' Redis gateway discovery package is built on <c>Microsoft.Orleans.Runtime</c> (it holds
    /// the silo and the client halves in one assembly): it may come in through it only.
    /// </summary>
    private static readonly string[] RuntimeCarriers = ["Microsoft.Orleans.Clustering.Redis", "Microsoft.Orleans.Runtime"];

    [Fact]
    public void Granary_Client_restores_no_server_only_package()
    {
        var closure = Closure();

        var found = closure.Keys.Where(p => ServerOnly.Contains(p, StringComparer.OrdinalIgnoreCase) || p.StartsWith("Hangfire", StringComparison.OrdinalIgnoreCase)).ToList();

        Assert.True(found.Count == 0, "Granary.Client's package closure holds server-only packages: " + string.Join(", ", found));
    }

    [Fact]
    public void Orleans_runtime_reaches_Granary_Client_only_through_the_client_side_Orleans_packages()
    {
        var closure = Closure();

        var carriers = closure.Where(p => p.Value.Contains("Microsoft.Orleans.Runtime")).Select(p => p.Key).ToList();

        var others = carriers.Except(RuntimeCarriers, StringComparer.OrdinalIgnoreCase).ToList();
        Assert.True(others.Count == 0, "Microsoft.Orleans.Runtime reaches Granary.Client through: " + string.Join(", ", others));
        Assert.DoesNotContain("Microsoft.Orleans.Runtime", DirectDependencies(), StringComparer.OrdinalIgnoreCase);
    }

    /// <summary>Package (or project) name -> the names it depends on, for everything restored for Granary.Client.</summary>
    private static Dictionary<string, HashSet<string>> Closure()
    {
        using var assets = Assets();
        var closure = new Dictionary<string, HashSet<string>>(StringComparer.OrdinalIgnoreCase);
        foreach (var target in assets.RootElement.GetProperty("targets").EnumerateObject())
        {
            foreach (var library in target.Value.EnumerateObject())
            {
                var name = library.Name.Split('/')[0];
                var dependencies = library.Value.TryGetProperty("dependencies", out var d) ? d.EnumerateObject().Select(p => p.Name) : [];
                closure[name] = dependencies.ToHashSet(StringComparer.OrdinalIgnoreCase);
            }
        }

        Assert.True(closure.Count > 10, $"project.assets.json of Granary.Client lists only {closure.Count} libraries");
        return closure;
    }

    private static IEnumerable<string> DirectDependencies()
    {
        using var assets = Assets();
        return assets.RootElement.GetProperty("project").GetProperty("frameworks").EnumerateObject()
            .SelectMany(f => f.Value.TryGetProperty("dependencies", out var d) ? d.EnumerateObject().Select(p => p.Name) : [])
            .ToList();
    }

    private static JsonDocument Assets()
    {
        var directory = new DirectoryInfo(AppContext.BaseDirectory);
        while (directory is not null && !File.Exists(Path.Combine(directory.FullName, "Orleans.sln")))
        {
            directory = directory.Parent;
        }

        var path = Path.Combine(directory?.FullName ?? throw new InvalidOperationException("Orleans.sln not found above " + AppContext.BaseDirectory), "src", "Sdk", "obj", "project.assets.json");
        return JsonDocument.Parse(File.ReadAllText(path));
    }
}
