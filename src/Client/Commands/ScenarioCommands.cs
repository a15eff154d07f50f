using System.CommandLine;
using System.Diagnostics;
using System.Globalization;
using Granary.Client.Cli;
using Granary.Client.Scenarios;

namespace Granary.Client.Commands;

/// <summary><c>granary demo</c> and <c>granary scenario NAME</c>.</summary>
public static class ScenarioCommands
{
    private static readonly Option<bool> UseCluster = new("--cluster")
    {
        Description = "Run against the configured cluster instead of an embedded in-process silo",
    };

    /// <summary><c>granary demo</c>: every scenario in order.</summary>
    public static Command CreateDemo()
    {
        var demo = new Command("demo", "The scenario tour: every scenario in order (embedded by default: needs no servers)") { UseCluster };
        demo.SetHandler((parse, output, ct) => RunAsync(ScenarioCatalog.All, parse, output, ct));
        return demo;
    }

    /// <summary><c>granary scenario NAME</c>.</summary>
    public static Command CreateScenario()
    {
        var name = new Argument<string>("name")
        {
            Description = "Scenario to run: " + string.Join(", ", ScenarioCatalog.All.Select(s => s.Name)),
        };
        var scenario = new Command("scenario", "Run one scenario (embedded by default)") { name, UseCluster };
        scenario.SetHandler((parse, output, ct) =>
        {
            var wanted = parse.GetValue(name)!;
            var found = ScenarioCatalog.Find(wanted)
                ?? throw new UsageException($"unknown scenario '{wanted}'; known: {string.Join(", ", ScenarioCatalog.All.Select(s => s.Name))}");
            return RunAsync([found], parse, output, ct);
        });
        return scenario;
    }

    private static async Task<int> RunAsync(IReadOnlyList<IScenario> scenarios, ParseResult parse, Output output, CancellationToken ct)
    {
        var embedded = !parse.GetValue(UseCluster) || parse.GetValue(GlobalOptions.Embedded);
        await using var connection = await ClusterConnection.OpenAsync(embedded, ct);
        var results = new List<object>();
        var failed = 0;
        foreach (var scenario in scenarios)
        {
            output.Line($"== {scenario.Name}: {scenario.Title}");
            var context = new ScenarioContext(connection, output);
            var watch = Stopwatch.StartNew();
            bool passed;
            string? error = null;
            try
            {
                passed = await scenario.RunAsync(context, ct);
            }
            catch (Exception ex) when (ex is not OperationCanceledException)
            {
                passed = false;
                error = ex.Message;
                output.Line("  error: " + ex.Message);
            }

            failed += passed ? 0 : 1;
            output.Line(string.Create(CultureInfo.InvariantCulture, $"-- {scenario.Name}: {(passed ? "ok" : "FAILED")} in {watch.Elapsed.TotalSeconds:F1} s"));
            output.Line();
            results.Add(new { scenario.Name, Passed = passed, Seconds = watch.Elapsed.TotalSeconds, Error = error, context.Facts });
        }

        output.Document(new { Embedded = connection.Embedded, Scenarios = results });
        output.Line(string.Create(CultureInfo.InvariantCulture, $"{scenarios.Count - failed} of {scenarios.Count} scenario(s) ok"));
        return failed == 0 ? ExitCodes.Ok : ExitCodes.Failure;
    }
}
