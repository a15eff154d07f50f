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
        var multiplexing = new Option<string>("--pg-multiplexing") { Description = "DistributedLock.Postgres: Npgsql multiplexing on, off, or both (each is run and the better one is the ratio's peer)", DefaultValueFactory = _ => "both" };
        var etcd = new Option<string?>("--etcd") { Description = "--peer etcd: an etcd client URL to use (default: start a private etcd on free loopback ports)" };
        var zooKeeper = new Option<string?>("--zookeeper") { Description = "--peer zookeeper: a ZooKeeper HOST:PORT to use (default: start a private standalone ZooKeeper on a free loopback port)" };
        var command = new Command("lock", "Lock leases: acquire+release pairs/s (uncontended) or hand-offs/s with FIFO check (contended), beside DistributedLock.Postgres/Redis, etcd or ZooKeeper") { mode, multiplexing, etcd, zooKeeper };
        command.SetHandler(async (parse, output, ct) =>
        {
            var settings = BenchCommands.Common.Settings(parse, output);
            var contended = (parse.GetValue(mode) ?? "uncontended").ToLowerInvariant() switch
            {
                "uncontended" => false,
                "contended" => true,
                var other => throw new UsageException($"--mode must be uncontended or contended (got '{other}')"),
            };
            bool[] multiplexingSettings = (parse.GetValue(multiplexing) ?? "both").ToLowerInvariant() switch
            {
                "both" => [true, false],
                "on" or "true" => [true],
                "off" or "false" => [false],
                var other => throw new UsageException($"--pg-multiplexing must be on, off or both (got '{other}')"),
            };
            var workload = new LockWorkload(contended);
            await using var connection = await GlobalOptions.ConnectAsync(parse, ct);
            settings = await BenchCommands.Common.WithCpuAsync(settings, parse, connection, ct);
            var storage = connection.Embedded ? "memory (embedded)" : connection.Configuration["Granary:Storage:Mode"] ?? "Memory";
            var granary = new GranaryLockBenchTarget(connection.Grains, workload, storage);
            var peerName = (parse.GetValue(BenchCommands.Common.Peer) ?? "none").ToLowerInvariant();
            IBenchTarget[] peers = peerName switch
            {
                "none" => [],
                "redis" => [new RedisLockBenchTarget(connection.Configuration["Granary:Cluster:RedisConnectionString"] ?? "127.0.0.1:6379", workload)],
                "postgres" => multiplexingSettings.Select(m => (IBenchTarget)new PostgresLockBenchTarget(BenchCommands.PeerPostgres(parse, connection.Configuration), workload, m, settings.Concurrency)).ToArray(),
                "etcd" => [new EtcdLockBenchTarget(workload, parse.GetValue(etcd), settings)],
                "zookeeper" => [new ZooKeeperLockBenchTarget(workload, parse.GetValue(zooKeeper), settings)],
                _ => throw new UsageException($"--peer must be none, redis, postgres, etcd or zookeeper (got '{peerName}')"),
            };
            try
            {
                return await RunAsync(contended ? "lock-contended" : "lock-uncontended", granary, peers, settings, output, ct);
            }
            finally
            {
                await granary.DisposeAsync();
                foreach (var peer in peers)
                {
                    await peer.DisposeAsync();
                }
            }
        });
        return command;
    }

    private static async Task<int> RunAsync(string workload, GranaryLockBenchTarget granary, IBenchTarget[] peers, BenchSettings settings, Output output, CancellationToken ct)
    {
        IBenchTarget[] targets = [granary, .. peers];
        var rows = await BenchCommands.RunInTurnAsync(workload, targets, settings, async (target, round, run) =>
        {
            var log = target switch
            {
                GranaryLockBenchTarget g => g.Log,
                PostgresLockBenchTarget p => p.Log,
                RedisLockBenchTarget r => r.Log,
                EtcdLockBenchTarget e => e.Log,
                ZooKeeperLockBenchTarget z => z.Log,
                _ => new GrantLog(),
            };

            // Each round analyses only its own measured window (the log keeps earlier rounds' grants).
            var startMeasuring = Task.Delay(run.Warmup, ct).ContinueWith(_ => log.StartMeasuring(), ct, TaskContinuationOptions.OnlyOnRanToCompletion, TaskScheduler.Default);
            var result = await BenchRunner.RunAsync(target.System, target.Configuration, target.ExecuteAsync, run, ct);
            await startMeasuring;
            return (Result: result with { Round = round }, Analysis: log.Analyse());
        }, ct);

        var contended = workload == "lock-contended";
        double Rate((BenchResult R, GrantAnalysis A) row) => contended ? row.A.HandOffs / row.R.Seconds : row.R.Throughput;
        var ratios = BenchCommands.RoundRatios(rows, targets.Length, Rate);
        double? ratio = ratios.Count > 0 ? BenchMath.Median(ratios) : null;
        output.Document(new
        {
            Workload = workload,
            settings.Concurrency,
            WarmupSeconds = settings.Warmup.TotalSeconds,
            FirstRoundWarmupSeconds = settings.WarmupFor(1).TotalSeconds,
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
                r.Result.Cpu,
                Grants = contended ? r.Analysis : null,
            }),
            Ratio = ratio,
            RatioPeer = peers.Length == 0 ? null : BestPeer(rows, targets.Length, Rate),
            RoundRatios = ratios,
            MinRoundRatio = ratios.Count > 0 ? ratios.Min() : (double?)null,
        });
        output.Table(
            ["SYSTEM", "ROUND", "PAIRS/S", "HAND-OFFS/S", "P50 MS", "P99 MS", "P99.9 MS", "WAIT P99.9", "OUT-OF-ORDER", "FIFO(SERVER)", "CPU US/OP", "ERRORS"],
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
                r.Result.CpuText,
                r.Result.Errors.ToString(CultureInfo.InvariantCulture),
            ]));
        foreach (var r in rows)
        {
            output.Line($"  {r.Result.System}{BenchCommands.RoundLabel(r.Result.Round, settings.Rounds)}: {r.Result.Configuration}");
            if (contended)
            {
                output.Line(string.Create(CultureInfo.InvariantCulture, $"    grants per caller {r.Analysis.FewestGrantsPerWorker}..{r.Analysis.MostGrantsPerWorker}, wait p50 {r.Analysis.WaitP50Ms:F1} ms p99 {r.Analysis.WaitP99Ms:F1} ms max {r.Analysis.WaitMaxMs:F1} ms"));
            }

            if (r.Result.CpuBreakdown is { } cpu)
            {
                output.Line($"    cpu: {cpu}");
            }

            if (r.Result.FirstError is not null)
            {
                output.Line($"    first error: {r.Result.FirstError}");
            }
        }

        if (ratio is { } x)
        {
            output.Line($"{(contended ? "hand-offs/s" : "pairs/s")} ratio granary/{BestPeer(rows, targets.Length, Rate)}: {BenchCommands.RatioText(x, ratios)}");
        }

        return rows.All(r => r.Result.Operations > 0) ? ExitCodes.Ok : ExitCodes.Failure;
    }

    /// <summary>The peer whose median rate over the rounds is higher (the ratio itself takes each round's better peer).</summary>
    private static string BestPeer(IReadOnlyList<(BenchResult Result, GrantAnalysis Analysis)> rows, int targets, Func<(BenchResult Result, GrantAnalysis Analysis), double> rate)
    {
        var best = rows.Where((_, index) => index % targets > 0).GroupBy(r => r.Result.System).MaxBy(g => BenchMath.Median(g.Select(rate)))!;
        return targets > 2 ? best.Key + " (the better peer each round; this one by median)" : best.Key;
    }
}
