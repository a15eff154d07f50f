using System.Globalization;
using System.Text.RegularExpressions;
using Granary.Tests.Cluster.Infrastructure;
using Xunit.Abstractions;

namespace Granary.Tests.Cluster.Tour;

/// <summary>
/// The README's first command, <c>granary demo</c>, run as a user runs it: the built console as a
/// child process, embedded (no servers), in a working directory of its own (so a local cluster's
/// <c>.local/cluster.json</c> cannot change what it does; the configuration is the repository's
/// <c>appsettings.json</c>, as in a fresh clone). Then the tour twice more in one process
/// (<c>--repeat 2</c>), so every scenario has passed three times: a scenario that fails now and
/// then fails here.
/// </summary>
public sealed partial class DemoTourTests(ITestOutputHelper output)
{
    private const int TimesEach = 3;

    // Each scenario bounds its own waits (20-30 s at most); a whole tour takes 30-60 s.
    private static readonly TimeSpan TourTimeout = TimeSpan.FromMinutes(10);

    [Fact]
    public async Task The_demo_exits_0_as_the_README_runs_it_and_every_scenario_passes_three_times()
    {
        var directory = Directory.CreateTempSubdirectory("granary-demo-");
        try
        {
            var first = await RunAsync(directory.FullName, "demo");
            var again = await RunAsync(directory.FullName, "demo", "--repeat", "2");

            var scenarios = Headers().Matches(first.Output).Select(m => m.Groups["name"].Value).ToList();
            var results = Footers().Matches(first.Output).Concat(Footers().Matches(again.Output))
                .Select(m => (Name: m.Groups["name"].Value, Ok: m.Groups["result"].Value == "ok", Seconds: double.Parse(m.Groups["seconds"].Value, CultureInfo.InvariantCulture)))
                .ToList();
            foreach (var name in scenarios)
            {
                var mine = results.Where(r => r.Name == name).ToList();
                output.WriteLine(string.Create(CultureInfo.InvariantCulture,
                    $"{name,-18} {mine.Count(r => r.Ok)} of {mine.Count} ok, {string.Join(" / ", mine.Select(r => r.Seconds.ToString("F1", CultureInfo.InvariantCulture)))} s"));
            }

            Assert.True(first.ExitCode == 0, $"granary demo exited {first.ExitCode}:{Environment.NewLine}{first.Output}");
            Assert.True(again.ExitCode == 0, $"granary demo --repeat 2 exited {again.ExitCode}:{Environment.NewLine}{again.Output}");
            Assert.NotEmpty(scenarios);
            Assert.Equal(scenarios.Count, scenarios.Distinct(StringComparer.Ordinal).Count());
            Assert.All(scenarios, name => Assert.Equal(TimesEach, results.Count(r => r.Name == name && r.Ok)));
            Assert.Equal(scenarios.Count * TimesEach, results.Count);
        }
        finally
        {
            directory.Delete(recursive: true);
        }
    }

    private async Task<CommandResult> RunAsync(string workingDirectory, params string[] arguments)
    {
        var started = DateTime.UtcNow;
        var result = await ChildProcess.RunAsync(
            "dotnet",
            [RepositoryPaths.ConsoleAssembly, .. arguments],
            TourTimeout,
            CancellationToken.None,
            workingDirectory: workingDirectory,
            keepLines: 10_000);
        output.WriteLine(string.Create(CultureInfo.InvariantCulture, $"granary {string.Join(' ', arguments)}: exit {result.ExitCode} in {(DateTime.UtcNow - started).TotalSeconds:F0} s"));
        return result;
    }

    [GeneratedRegex(@"^== (?<name>[a-z0-9-]+): ", RegexOptions.Multiline)]
    private static partial Regex Headers();

    [GeneratedRegex(@"^-- (?<name>[a-z0-9-]+)(?: \(run \d+ of \d+\))?: (?<result>ok|FAILED) in (?<seconds>[0-9.]+) s", RegexOptions.Multiline)]
    private static partial Regex Footers();
}
