using System.Diagnostics;
using System.Globalization;
using System.Text;
using Granary.Hashing;

namespace Granary.Tests.Unit.Hashing;

/// <summary>
/// Placement must not depend on the process (string.GetHashCode is randomised per process):
/// a second process computes owners with the same ring and must agree key for key.
/// </summary>
public sealed class RingCrossProcessTests
{
    private const string ProbeDll = "Granary.RingProbe.dll";

    private static readonly RingNode[] Nodes =
        [new("silo-a"), new("silo-b", 2), new("silo-c"), new("silo-d", 3)];

    private static readonly string[] ExtraKeys = ["user:42", "ключ", "キー", "emoji 🙂", "with space", "path/κ/λ"];

    [Fact]
    public async Task SameKeyMapsToSameNodeInASeparateProcess()
    {
        const int Count = 5_000;
        var args = new List<string>();
        foreach (var node in Nodes)
        {
            args.AddRange(["--node", string.Create(CultureInfo.InvariantCulture, $"{node.Id}={node.Weight}")]);
        }

        args.AddRange(["--vnodes", "160", "--count", Count.ToString(CultureInfo.InvariantCulture)]);
        foreach (var key in ExtraKeys)
        {
            args.AddRange(["--key", key]);
        }

        var output = await RunProbeAsync(args);
        var lines = output.Split('\n', StringSplitOptions.RemoveEmptyEntries);
        Assert.Equal(Count + ExtraKeys.Length, lines.Length);

        var ring = ConsistentHashRing.Create(Nodes, 160);
        var expectedKeys = ConsistentHashRingTests.Keys(Count).Concat(ExtraKeys).ToArray();
        var owners = new HashSet<string>(StringComparer.Ordinal);
        for (var i = 0; i < lines.Length; i++)
        {
            var parts = lines[i].Split('\t');
            Assert.Equal(2, parts.Length);
            Assert.Equal(expectedKeys[i], parts[0]);
            Assert.Equal(ring.GetNode(parts[0]), parts[1]);
            owners.Add(parts[1]);
        }

        // A probe that printed one node for everything would be a useless comparison.
        Assert.Equal(Nodes.Length, owners.Count);
    }

    private static async Task<string> RunProbeAsync(IEnumerable<string> args)
    {
        var start = new ProcessStartInfo(DotnetHost())
        {
            RedirectStandardOutput = true,
            RedirectStandardError = true,
            UseShellExecute = false,
            StandardOutputEncoding = Encoding.UTF8,
            StandardErrorEncoding = Encoding.UTF8,
        };
        start.ArgumentList.Add(FindProbe());
        foreach (var arg in args)
        {
            start.ArgumentList.Add(arg);
        }

        using var process = Process.Start(start) ?? throw new InvalidOperationException("Could not start the ring probe.");
        var stdout = process.StandardOutput.ReadToEndAsync();
        var stderr = process.StandardError.ReadToEndAsync();
        using var timeout = new CancellationTokenSource(TimeSpan.FromMinutes(2));
        try
        {
            await process.WaitForExitAsync(timeout.Token);
        }
        catch (OperationCanceledException)
        {
            process.Kill(entireProcessTree: true);
            throw;
        }

        var error = await stderr;
        Assert.True(process.ExitCode == 0, $"Ring probe exited with {process.ExitCode}: {error}");
        return await stdout;
    }

    private static string DotnetHost()
    {
        var fromCli = Environment.GetEnvironmentVariable("DOTNET_HOST_PATH");
        if (!string.IsNullOrEmpty(fromCli) && File.Exists(fromCli))
        {
            return fromCli;
        }

        var current = Environment.ProcessPath;
        return current is not null && Path.GetFileNameWithoutExtension(current) == "dotnet" ? current : "dotnet";
    }

    // The probe is built by the ProjectReference (ReferenceOutputAssembly=false), into its own
    // bin/<Configuration>/<TargetFramework>/; this assembly's output path names both.
    private static string FindProbe()
    {
        var baseDir = AppContext.BaseDirectory.TrimEnd(Path.DirectorySeparatorChar, Path.AltDirectorySeparatorChar);
        var candidates = new List<string> { Path.Combine(baseDir, ProbeDll) };

        var tfmDir = new DirectoryInfo(baseDir);
        var targetFramework = tfmDir.Name;
        var configuration = tfmDir.Parent?.Name;
        for (var dir = tfmDir; dir is not null && configuration is not null; dir = dir.Parent)
        {
            var probeProject = Path.Combine(dir.FullName, "tests", "Granary.RingProbe");
            if (Directory.Exists(probeProject))
            {
                candidates.Add(Path.Combine(probeProject, "bin", configuration, targetFramework, ProbeDll));
                break;
            }
        }

        return candidates.FirstOrDefault(File.Exists)
            ?? throw new FileNotFoundException($"{ProbeDll} not found; looked in: {string.Join(", ", candidates)}");
    }
}
