using System.CommandLine;
using System.Globalization;
using Granary.Bench.Locks;
using Granary.Cli.Cli;
using Granary.Cli.Locks;

namespace Granary.Bench.Commands;

/// <summary><c>granary bench lock</c>: acquire+release pairs, uncontended or all on one lock, beside DistributedLock.</summary>
public static class LockBenchCommands
{
    /// <summary>Builds <c>bench lock</c>.</summary>
    public static Command Create()
    {
        var mode = new Option<string>("--mode") { Description = "uncontended (one lock per caller) or contended (every caller on one lock)", DefaultValueFactory = _ => "uncontended" };
        var multiplexing = new Option<bool>("--pg-multiplexing") { Description = "DistributedLock.Postgres: Npgsql multiplexing on (its default) or off", DefaultValueFactory = _ => true };
        var command = new Command("lock", "Lock leases: acquire+release pairs/s (uncontended) or hand-offs/s with FIFO check (contended), beside DistributedLock.Postgres/Redis") { mode, multiplexing };
        command.SetHandler(async (parse, output, ct) =>
        {
            var settings = BenchCommands.Common.Settings(parse, output);
            var contended = (parse.GetValue(mode) ?? "uncontended").ToLowerInvariant() switch
            {
                "uncontended" => false,
                "contended" => true,
                var other => throw new UsageException($"--mode must be uncontended or contended (got '{other}')"),
            };
            var workload = new LockWorkload(contended);
            await using var connection = await GlobalOptions.ConnectAsync(parse, ct);
            var storage = connection.Embedded ? "memory (embedded)" : connection.Configuration["Granary:Storage:Mode"] ?? "Memory";
            var granary = new GranaryLockBenchTarget(connection.Grains, workload, storage);
            var peerName = (parse.GetValue(BenchCommands.Common.Peer) ?? "none").ToLowerInvariant();
            IBenchTarget? peer = peerName switch
            {
                "none" => null,
                "redis" => new RedisLockBenchTarget(connection.Configuration["Granary:Cluster:RedisConnectionString"] ?? "127.0.0.1:6379", workload),
                "postgres" => new PostgresLockBenchTarget(BenchCommands.PeerPostgres(connection.Configuration), workload, parse.GetValue(multiplexing)),
                _ => throw new UsageException($"--peer must be none, redis or postgres (got '{peerName}')"),
            };
            await using (granary)
            await using (peer)
            {
                return await RunAsync(contended ? "lock-contended" : "lock-uncontended", granary, peer, settings, output, ct);
            }
        });
        return command;
    }

    private static async Task<int> RunAsync(string workload, GranaryLockBenchTarget granary, IBenchTarget? peer, BenchSettings settings, Output output, CancellationToken ct)
    {
        var targets = peer is null ? [granary] : new[] { granary, peer };
        var rows = await BenchCommands.RunInTurnAsync(workload, targets, settings, async (target, round) =>
        {
            var log = target switch
            {
                GranaryLockBenchTarget g => g.Log,
                PostgresLockBenchTarget p => p.Log,
                RedisLockBenchTarget r => r.Log,
                _ => new GrantLog(),
            };

            // Each round analyses only its own measured window (the log keeps earlier rounds' grants).
            var startMeasuring = Task.Delay(settings.Warmup, ct).ContinueWith(_ => log.StartMeasuring(), ct, TaskContinuationOptions.OnlyOnRanToCompletion, TaskScheduler.Default);
            var result = await BenchRunner.RunAsync(target.System, target.Configuration, target.ExecuteAsync, settings, ct);
            await startMeasuring;
            return (Result: result with { Round = round }, Analysis: log.Analyse());
        }, ct);

        var contended = workload == "lock-contended";
        double Rate((BenchResult R, GrantAnalysis A) row) => contended ? row.A.HandOffs / row.R.Seconds : row.R.Throughput;
        var ratios = BenchCommands.RoundRatios(rows, peer is not null, Rate);
        double? ratio = ratios.Count > 0 ? BenchMath.Median(ratios) : null;
        output.Document(new
        {
            Workload = workload,
            settings.Concurrency,
            WarmupSeconds = settings.Warmup.TotalSeconds,
            settings.Rounds,
            RatioOf = contended ? "hand-offs/s" : "acquire+release pairs/s",
            Results = rows.Select(r => new
            {
                r.Result.System,
                r.Result.Round,
                r.Result.Configuration,
                PairsPerSecond = r.Result.Throughput,
                HandOffsPerSecond = contended ? r.Analysis.HandOffs / r.Result.Seconds : (double?)null,
                r.Result.P50Ms,
                r.Result.P99Ms,
                r.Result.P999Ms,
                r.Result.Errors,
                r.Result.FirstError,
                Grants = contended ? r.Analysis : null,
            }),
            Ratio = ratio,
            RoundRatios = ratios,
        });
        output.Table(
            ["SYSTEM", "ROUND", "PAIRS/S", "HAND-OFFS/S", "P50 MS", "P99 MS", "P99.9 MS", "WAIT P99.9", "OUT-OF-ORDER", "FIFO(SERVER)", "ERRORS"],
            rows.Select(r => (IReadOnlyList<string>)
            [
                r.Result.System,
                r.Result.Round.ToString(CultureInfo.InvariantCulture),
                r.Result.Throughput.ToString("N0", CultureInfo.InvariantCulture),
                contended ? (r.Analysis.HandOffs / r.Result.Seconds).ToString("N0", CultureInfo.InvariantCulture) : "-",
                r.Result.P50Ms.ToString("F2", CultureInfo.InvariantCulture),
                r.Result.P99Ms.ToString("F2", CultureInfo.InvariantCulture),
                r.Result.P999Ms.ToString("F2", CultureInfo.InvariantCulture),
                contended ? r.Analysis.WaitP999Ms.ToString("F1", CultureInfo.InvariantCulture) : "-",
                contended ? r.Analysis.OutOfOrderFraction.ToString("P2", CultureInfo.InvariantCulture) : "-",
                !contended || r.Analysis.ArrivalOrderViolations < 0 ? "-" : r.Analysis.ArrivalOrderViolations.ToString(CultureInfo.InvariantCulture) + " violations",
                r.Result.Errors.ToString(CultureInfo.InvariantCulture),
            ]));
        foreach (var r in rows)
        {
            output.Line($"  {r.Result.System}{BenchCommands.RoundLabel(r.Result.Round, settings.Rounds)}: {r.Result.Configuration}");
            if (contended)
            {
                output.Line(string.Create(CultureInfo.InvariantCulture, $"    grants per caller {r.Analysis.FewestGrantsPerWorker}..{r.Analysis.MostGrantsPerWorker}, wait p50 {r.Analysis.WaitP50Ms:F1} ms p99 {r.Analysis.WaitP99Ms:F1} ms max {r.Analysis.WaitMaxMs:F1} ms"));
            }

            if (r.Result.FirstError is not null)
            {
                output.Line($"    first error: {r.Result.FirstError}");
            }
        }

        if (ratio is { } x)
        {
            output.Line($"{(contended ? "hand-offs/s" : "pairs/s")} ratio granary/{rows[1].Result.System}: {BenchCommands.RatioText(x, ratios)}");
        }

        return rows.All(r => r.Result.Operations > 0) ? ExitCodes.Ok : ExitCodes.Failure;
    }
}
