namespace Granary.Tests.Cluster.Infrastructure;

/// <summary>Locates the repository and the built silo and console executables from the test assembly.</summary>
public static class RepositoryPaths
{
    /// <summary>The repository root (the folder holding Orleans.sln).</summary>
    public static string Root { get; } = FindRoot();

    /// <summary>The build configuration the tests were built with (Debug or Release).</summary>
    public static string Configuration { get; } =
        AppContext.BaseDirectory.Contains($"{Path.DirectorySeparatorChar}Release{Path.DirectorySeparatorChar}", StringComparison.Ordinal) ? "Release" : "Debug";

    /// <summary>The silo's entry assembly, built by the test project's reference to src/Silo.</summary>
    public static string SiloAssembly => BuiltAssembly("Silo", "granary-silo.dll");

    /// <summary>The console's entry assembly (<c>granary.dll</c>), built by the test project's reference to src/Client.</summary>
    public static string ConsoleAssembly => BuiltAssembly("Client", "granary.dll");

    /// <summary>The executable of the standalone TestCluster silo, built by the test project's reference to tests/Granary.Tests.SiloHost.</summary>
    public static string StandaloneSiloExecutable => BuiltAssembly(Path.Combine("..", "tests", "Granary.Tests.SiloHost"), "Granary.Tests.SiloHost");

    /// <summary>The grocery sample's worker (<c>Granary.Grocery.Worker.dll</c>), built by the test project's reference to it.</summary>
    public static string SampleWorkerAssembly => BuiltAssembly(Path.Combine("..", "samples", "Granary.Grocery.Worker"), "Granary.Grocery.Worker.dll");

    private static string BuiltAssembly(string project, string file)
    {
        var path = Path.GetFullPath(Path.Combine(Root, "src", project, "bin", Configuration, "net10.0", file));
        return File.Exists(path)
            ? path
            : throw new FileNotFoundException($"{file} was not built at {path}; build the solution first (dotnet build Orleans.sln -c {Configuration}).", path);
    }

    private static string FindRoot()
    {
        var dir = new DirectoryInfo(AppContext.BaseDirectory);
        while (dir is not null && !File.Exists(Path.Combine(dir.FullName, "Orleans.sln")))
        {
            dir = dir.Parent;
        }

        return dir?.FullName ?? throw new InvalidOperationException("Orleans.sln not found above " + AppContext.BaseDirectory);
    }
}
