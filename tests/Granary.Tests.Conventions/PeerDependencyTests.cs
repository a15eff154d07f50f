using System.Text.Json;

namespace Granary.Tests.Conventions;

/// <summary>
/// The systems the benchmarks compare Granary with (Hangfire, DistributedLock.Postgres/Redis,
/// Orleans.Transactions, etcd's client) and the benchmarks' own histogram library live in the bench tool
/// (bench/Granary.Bench) only: no product project depends on them, directly or through another
/// package. Read from each project's restore result (obj/project.assets.json, the whole package
/// graph) and from the built assemblies' references.
/// </summary>
public sealed class PeerDependencyTests
{
    /// <summary>The product projects: the libraries, the silo and the console.</summary>
    public static TheoryData<string> ProductProjects { get; } =
    [
        "src/Core",
        "src/Grains/Granary.Contracts",
        "src/Grains/Granary.Grains",
        "src/Hosting",
        "src/Sdk",
        "src/Client",
        "src/Silo",
    ];

    private const string BenchProject = "bench/Granary.Bench";

    [Theory]
    [MemberData(nameof(ProductProjects))]
    public void A_product_project_depends_on_no_benchmark_peer_package(string project)
    {
        var peers = Packages(project).Where(IsPeerPackage).Order(StringComparer.Ordinal).ToList();

        Assert.True(peers.Count == 0, $"{project} depends on benchmark peer packages (they belong to {BenchProject}): {string.Join(", ", peers)}");
    }

    [Fact]
    public void The_bench_tool_holds_every_peer_package()
    {
        // The check above reads real package graphs: the one project meant to have the peers has them all.
        var packages = Packages(BenchProject).ToHashSet(StringComparer.OrdinalIgnoreCase);
        string[] expected = ["Hangfire.Core", "Hangfire.PostgreSql", "DistributedLock.Postgres", "DistributedLock.Redis", "HdrHistogram", "Microsoft.Orleans.Transactions", "dotnet-etcd"];

        var missing = expected.Where(p => !packages.Contains(p)).ToList();
        Assert.True(missing.Count == 0, $"{BenchProject} lacks peer packages: {string.Join(", ", missing)}");
        Assert.All(expected, p => Assert.True(IsPeerPackage(p), p));
    }

    [Fact]
    public void No_product_assembly_references_a_peer_assembly()
    {
        var references = ProductAssemblies.All
            .SelectMany(a => a.Assembly.GetReferencedAssemblies().Select(r => (Assembly: a.Assembly.GetName().Name, Reference: r.Name ?? string.Empty)))
            .Where(x => x.Reference.StartsWith("Hangfire", StringComparison.OrdinalIgnoreCase)
                || x.Reference.StartsWith("Medallion.Threading.", StringComparison.OrdinalIgnoreCase)
                || x.Reference.Equals("HdrHistogram", StringComparison.OrdinalIgnoreCase)
                || x.Reference.StartsWith("Orleans.Transactions", StringComparison.OrdinalIgnoreCase)
                || x.Reference.Equals("dotnet-etcd", StringComparison.OrdinalIgnoreCase))
            .Select(x => $"{x.Assembly} -> {x.Reference}")
            .ToList();

        Assert.True(references.Count == 0, "product assemblies referencing benchmark peers: " + string.Join(", ", references));
    }

    /// <summary>Hangfire, DistributedLock's PostgreSQL and Redis providers (DistributedLock.Core, the abstractions, is not a peer), HdrHistogram, Orleans.Transactions.</summary>
    private static bool IsPeerPackage(string id) =>
        id.StartsWith("Hangfire", StringComparison.OrdinalIgnoreCase)
        || id.Equals("DistributedLock.Postgres", StringComparison.OrdinalIgnoreCase)
        || id.Equals("DistributedLock.Redis", StringComparison.OrdinalIgnoreCase)
        || id.Equals("HdrHistogram", StringComparison.OrdinalIgnoreCase)
        || id.StartsWith("Microsoft.Orleans.Transactions", StringComparison.OrdinalIgnoreCase)
        || id.Equals("dotnet-etcd", StringComparison.OrdinalIgnoreCase);

    /// <summary>Every package in <paramref name="project"/>'s restored graph, transitive ones included.</summary>
    private static IEnumerable<string> Packages(string project)
    {
        var assets = Path.Combine(RepositoryRoot(), project, "obj", "project.assets.json");
        Assert.True(File.Exists(assets), $"{assets} is missing: restore Orleans.sln first (dotnet build Orleans.sln)");
        using var document = JsonDocument.Parse(File.ReadAllText(assets));
        return document.RootElement.GetProperty("libraries").EnumerateObject()
            .Where(library => library.Value.GetProperty("type").GetString() == "package")
            .Select(library => library.Name[..library.Name.IndexOf('/', StringComparison.Ordinal)])
            .ToList();
    }

    private static string RepositoryRoot()
    {
        for (var dir = new DirectoryInfo(AppContext.BaseDirectory); dir is not null; dir = dir.Parent)
        {
            if (File.Exists(Path.Combine(dir.FullName, "Orleans.sln")))
            {
                return dir.FullName;
            }
        }

        throw new InvalidOperationException($"no Orleans.sln above {AppContext.BaseDirectory}");
    }
}
