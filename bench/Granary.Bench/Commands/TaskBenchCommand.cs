using System.CommandLine;
using Granary.Cli.Cli;

namespace Granary.Bench.Commands;

/// <summary><c>granary bench tasks</c>: trivial tasks end to end (submit, then the stored result), beside Hangfire on PostgreSQL.</summary>
public static class TaskBenchCommand
{
    /// <summary>Builds the command.</summary>
    public static Command Create()
    {
        var workers = new Option<int>("--hangfire-workers") { Description = "Hangfire server worker count", DefaultValueFactory = _ => 64 };
        var longPolling = new Option<bool>("--hangfire-long-polling") { Description = "Hangfire.PostgreSql: wake workers by LISTEN/NOTIFY (EnableLongPolling) instead of polling the queue every 50 ms", DefaultValueFactory = _ => false };
        var count = new Option<int>("--tasks") { Description = "Tasks measured per system after the warm-up (0: run for --duration instead)", DefaultValueFactory = _ => 20_000 };
        var tasks = new Command("tasks", "20,000 trivial tasks end to end (submit -> completed result) per system, beside Hangfire.PostgreSql with --peer hangfire") { workers, count, longPolling };
        tasks.SetHandler(async (parse, output, ct) =>
        {
            var measured = GlobalOptions.Require(parse.GetValue(count), "--tasks", 0, 10_000_000);
            var settings = BenchCommands.Common.Settings(parse, output) with { Operations = measured == 0 ? null : measured };
            var peerName = (parse.GetValue(BenchCommands.Common.Peer) ?? "none").ToLowerInvariant();
            if (peerName is not ("none" or "hangfire"))
            {
                throw new UsageException($"--peer must be none or hangfire for tasks (got '{peerName}')");
            }

            await using var connection = await GlobalOptions.ConnectAsync(parse, ct);
            settings = await BenchCommands.Common.WithCpuAsync(settings, parse, connection, ct);
            var storage = connection.Embedded ? "memory (embedded)" : connection.Configuration["Granary:Storage:Mode"] ?? "Memory";
            await using var granary = new TaskBenchTarget(connection.Grains, storage);
            await using var peer = peerName == "hangfire"
                ? new HangfireBenchTarget(BenchCommands.PeerPostgres(parse, connection.Configuration), GlobalOptions.Require(parse.GetValue(workers), "--hangfire-workers", 1, 1000), parse.GetValue(longPolling))
                : null;
            var exit = await BenchCommands.CompareAsync("tasks", granary, peer, settings, output, ct);
            Output.Progress(granary.Breakdown());
            return exit;
        });
        return tasks;
    }
}
