using System.CommandLine;
using System.Diagnostics;
using System.Globalization;
using Granary.Cli.Cli;
using Granary.Cli.Scenarios;

namespace Granary.Cli.Commands;

/// <summary><c>granary demo</c> and <c>granary scenario NAME</c>.</summary>
public static class ScenarioCommands
{
    private static readonly Option<bool> UseCluster = new("--cluster")
    {
        Description = "Run against the configured cluster instead of an embedded in-process silo",
    };

    private static readonly Option<int> Repeat = new("--repeat")
    {
        Description = "Run it this many times in a row on the same cluster (1-100); fails if any run fails",
        DefaultValueFactory = _ => 1,
    };

    /// <summary><c>granary demo</c>: every scenario in order.</summary>
    public static Command CreateDemo()
    {
        var demo = new Command("demo", "The scenario tour: every scenario in order (embedded by default: needs no servers)") { UseCluster, Repeat };
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
        var scenario = new Command("scenario", "Run one scenario (embedded by default)") { name, UseCluster, Repeat };
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
        var repeat = GlobalOptions.Require(parse.GetValue(Repeat), "--repeat", 1, 100);
        var embedded = !parse.GetValue(UseCluster) || parse.GetValue(GlobalOptions.Embedded);
        await using var connection = await ClusterConnection.OpenAsync(embedded, ct);
        var results = new List<object>();
        var failed = new List<string>();
        for (var pass = 1; pass <= repeat; pass++)
        {
            foreach (var scenario in scenarios)
            {
                var label = repeat == 1 ? scenario.Name : string.Create(CultureInfo.InvariantCulture, $"{scenario.Name} (run {pass} of {repeat})");
                output.Line($"== {label}: {scenario.Title}");
                var context = new ScenarioContext(connection, output);
                var watch = Stopwatch.StartNew();
                bool passed;
                string? error = null;
                try
                {
                    passed = await scenario.RunAsync(context, ct) && context.AllHeld;
                    if (!passed && context.AllHeld)
                    {
                        error = "the scenario reported a failure";
                    }
                }
                catch (ScenarioStoppedException ex)
                {
                    passed = false;
                    error = ex.Message;
                    output.Line("  stopped: " + ex.Message);
                }
                catch (Exception ex) when (ex is not OperationCanceledException || !ct.IsCancellationRequested)
                {
                    passed = false;
                    error = $"{ex.GetType().Name}: {ex.Message}";
                    output.Line("  error: " + error);
                }

                error ??= context.AllHeld ? null : "did not hold: " + string.Join("; ", context.Failures);
                if (!passed)
                {
                    failed.Add(label);
                }

                output.Line(string.Create(CultureInfo.InvariantCulture, $"-- {label}: {(passed ? "ok" : "FAILED")} in {watch.Elapsed.TotalSeconds:F1} s"));
                output.Line();
                results.Add(new { scenario.Name, Run = pass, Passed = passed, Seconds = watch.Elapsed.TotalSeconds, Error = error, context.Facts });
            }
        }

        var total = scenarios.Count * repeat;
        var redisCli = await RedisCliLineAsync(connection, ct);
        output.Document(new { Embedded = connection.Embedded, Scenarios = results, RedisCli = redisCli });
        output.Line(string.Create(CultureInfo.InvariantCulture, $"{total - failed.Count} of {total} scenario run(s) ok{(failed.Count == 0 ? string.Empty : "; failed: " + string.Join(", ", failed))}"));
        if (redisCli is not null)
        {
            output.Line($"the cache also speaks Redis's protocol (an endpoint answered PING just now): {redisCli}");
        }

        return failed.Count == 0 ? ExitCodes.Ok : ExitCodes.Failure;
    }

    /// <summary>A <c>redis-cli</c> line for the first silo whose RESP endpoint answers PING now, or null.</summary>
    private static async Task<string?> RedisCliLineAsync(ClusterConnection connection, CancellationToken ct)
    {
        foreach (var node in (await RespEndpoints.ListAsync(connection.Grains)).Values.OrderBy(n => n.Port))
        {
            var (answers, needsPassword) = await RespEndpoints.PingAsync(node, ct);
            if (answers)
            {
                return RespEndpoints.RedisCliLine(node, needsPassword);
            }
        }

        return null;
    }
}
