using System.CommandLine;
using System.Diagnostics;
using System.Globalization;
using System.Reflection;

namespace Granary.Cli.Cli;

/// <summary>
/// <c>granary bench ...</c>: the benchmarks and the peer systems they run beside live in the bench
/// tool (<c>bench/Granary.Bench</c>), not in the console. This command runs that tool from the
/// repository the console was built in (or the current directory is in) with the same command line,
/// so options, output, JSON and exit code are the tool's. It builds the tool first, in the console's
/// own configuration, unless <c>GRANARY_NO_BUILD=1</c> (scripts that built it already).
/// </summary>
public static class BenchForwarder
{
    /// <summary>The bench tool's project, relative to the repository root.</summary>
    public const string ProjectPath = "bench/Granary.Bench/Granary.Bench.csproj";

    private const string AssemblyFile = "granary-bench.dll";

    /// <summary>The <c>bench</c> command: everything after it goes to the bench tool unparsed.</summary>
    public static Command Create() => new BenchCommand();

    /// <summary>True when <paramref name="parse"/> is a <c>bench</c> command line (help and unknown options included: the tool answers them).</summary>
    public static bool Owns(ParseResult parse)
    {
        ArgumentNullException.ThrowIfNull(parse);
        return parse.CommandResult.Command is BenchCommand;
    }

    /// <summary>Runs the bench tool with <paramref name="args"/> (the console's whole command line) and returns its exit code.</summary>
    public static async Task<int> RunAsync(IReadOnlyList<string> args, CancellationToken ct)
    {
        ArgumentNullException.ThrowIfNull(args);
        var project = FindProject()
            ?? throw new UsageException($"bench runs from a Granary repository: the bench tool ({ProjectPath}) is not above {AppContext.BaseDirectory} nor {Environment.CurrentDirectory}");
        var projectDirectory = Path.GetDirectoryName(project)!;
        var configuration = typeof(BenchForwarder).Assembly.GetCustomAttribute<AssemblyConfigurationAttribute>()?.Configuration ?? "Release";
        var dotnet = Environment.GetEnvironmentVariable("DOTNET_HOST_PATH") is { Length: > 0 } host ? host : "dotnet";
        if (Environment.GetEnvironmentVariable("GRANARY_NO_BUILD") != "1")
        {
            await BuildAsync(dotnet, project, configuration, ct);
        }

        var framework = string.Create(CultureInfo.InvariantCulture, $"net{Environment.Version.Major}.{Environment.Version.Minor}");
        var assembly = Path.Combine(projectDirectory, "bin", configuration, framework, AssemblyFile);
        if (!File.Exists(assembly))
        {
            throw new UsageException($"the bench tool is not built: {assembly} is missing (dotnet build {ProjectPath} -c {configuration})");
        }

        // Standard input, output and error are the console's own: the tool's output is the command's output.
        var start = new ProcessStartInfo(dotnet) { UseShellExecute = false };
        start.ArgumentList.Add("exec");
        start.ArgumentList.Add(assembly);
        foreach (var arg in args)
        {
            start.ArgumentList.Add(arg);
        }

        using var tool = Process.Start(start) ?? throw new InvalidOperationException($"could not start {dotnet} exec {assembly}");
        await WaitAsync(tool, ct);
        return tool.ExitCode;
    }

    private static async Task BuildAsync(string dotnet, string project, string configuration, CancellationToken ct)
    {
        var start = new ProcessStartInfo(dotnet)
        {
            UseShellExecute = false,
            RedirectStandardOutput = true,
            RedirectStandardError = true,
        };
        foreach (var arg in new[] { "build", project, "-c", configuration, "-nologo", "-v", "quiet" })
        {
            start.ArgumentList.Add(arg);
        }

        Output.Progress($"bench: building the bench tool ({ProjectPath}, {configuration}; GRANARY_NO_BUILD=1 skips this)");
        using var build = Process.Start(start) ?? throw new InvalidOperationException($"could not start {dotnet} build");
        var stdout = build.StandardOutput.ReadToEndAsync(ct);
        var stderr = build.StandardError.ReadToEndAsync(ct);
        await WaitAsync(build, ct);
        if (build.ExitCode != 0)
        {
            await Console.Error.WriteAsync(await stdout + await stderr);
            throw new InvalidOperationException($"building {ProjectPath} failed (exit {build.ExitCode})");
        }
    }

    /// <summary>Waits for the child; when the console is cancelled (Ctrl+C reaches the child too) it gives the child 10 s to finish, then ends it.</summary>
    private static async Task WaitAsync(Process child, CancellationToken ct)
    {
        try
        {
            await child.WaitForExitAsync(ct);
        }
        catch (OperationCanceledException) when (ct.IsCancellationRequested)
        {
            using var grace = new CancellationTokenSource(TimeSpan.FromSeconds(10));
            try
            {
                await child.WaitForExitAsync(grace.Token);
            }
            catch (OperationCanceledException)
            {
                child.Kill(entireProcessTree: true);
                await child.WaitForExitAsync(CancellationToken.None);
            }
        }
    }

    /// <summary>The bench project above the console's own directory, or above the current directory.</summary>
    private static string? FindProject()
    {
        foreach (var start in new[] { AppContext.BaseDirectory, Environment.CurrentDirectory })
        {
            for (var dir = new DirectoryInfo(start); dir is not null; dir = dir.Parent)
            {
                var candidate = Path.Combine(dir.FullName, ProjectPath);
                if (File.Exists(candidate))
                {
                    return candidate;
                }
            }
        }

        return null;
    }

    /// <summary>The forwarding command: no options of its own, every token after <c>bench</c> left for the tool.</summary>
    private sealed class BenchCommand : Command
    {
        public BenchCommand()
            : base("bench", "Closed-loop benchmarks, side by side with a peer system (runs the bench tool, bench/Granary.Bench; 'granary bench --help' lists the workloads)")
        {
            TreatUnmatchedTokensAsErrors = false;
        }
    }
}
