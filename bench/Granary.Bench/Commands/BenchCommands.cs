using System.CommandLine;
using System.Globalization;
using Granary.Bench.Cpu;
using Granary.Cli.Cli;
using Microsoft.Extensions.Configuration;
using Npgsql;

namespace Granary.Bench.Commands;

/// <summary><c>granary bench WORKLOAD</c>: closed-loop load, optionally beside a peer system in the same run.</summary>
public static class BenchCommands
{
    /// <summary>Options shared by every workload.</summary>
    public static class Common
    {
        /// <summary>Concurrent callers.</summary>
        public static readonly Option<int> Concurrency = new("--concurrency") { Description = "Concurrent callers", DefaultValueFactory = _ => 64, Recursive = true };

        /// <summary>Measured seconds.</summary>
        public static readonly Option<int> Duration = new("--duration") { Description = "Measured seconds (quote runs of 15 s or more)", DefaultValueFactory = _ => 15, Recursive = true };

        /// <summary>Warm-up seconds.</summary>
        public static readonly Option<int> Warmup = new("--warmup") { Description = "Warm-up seconds, not measured", DefaultValueFactory = _ => 3, Recursive = true };

        /// <summary>Peer system.</summary>
        public static readonly Option<string> Peer = new("--peer") { Description = "Peer to run side by side: none; redis, postgres (document, lock, cache, queue); etcd, zookeeper (lock); orleans-transactions (tx); hangfire (tasks)", DefaultValueFactory = _ => "none", Recursive = true };

        /// <summary><c>--rounds</c>.</summary>
        public static readonly Option<int> Rounds = new("--rounds") { Description = "Run Granary and the peer in turn this many times and quote the median and the minimum of the rounds' ratios (every workload; --duration 60 --rounds 5 is the long-run mode)", DefaultValueFactory = _ => 1, Recursive = true };

        /// <summary><c>--cpu-process</c>.</summary>
        public static readonly Option<string[]> CpuProcess = new("--cpu-process") { Description = "Also report the CPU per operation of this process: NAME=PID (with its descendants) or NAME=:PORT (the local process listening there); repeatable. The client, silos, PostgreSQL shards and Redis are found by themselves", Recursive = true };

        /// <summary>
        /// <paramref name="settings"/> with a CPU meter watching the processes of the connection's
        /// cluster (see <see cref="CpuDiscovery"/>) and those named by <c>--cpu-process</c>, and the
        /// PostgreSQL servers to checkpoint before each run (the storage shards' and
        /// <c>--peer-postgres</c>).
        /// </summary>
        public static async Task<BenchSettings> WithCpuAsync(BenchSettings settings, ParseResult parse, ClusterConnection connection, CancellationToken ct)
        {
            ArgumentNullException.ThrowIfNull(settings);
            ArgumentNullException.ThrowIfNull(parse);
            var meter = await CpuDiscovery.DiscoverAsync(connection, parse.GetValue(CpuProcess) ?? [], ct);
            if (meter is not null && parse.GetValue(PeerPostgres) is { Length: > 0 } own)
            {
                var peer = new NpgsqlConnectionStringBuilder(own);
                CpuDiscovery.WatchListener(meter, new ProcFs(), "peer-postgres:" + peer.Port.ToString(CultureInfo.InvariantCulture), peer.Host ?? "localhost", peer.Port);
            }

            if (meter is not null)
            {
                Output.Progress("cpu: measuring " + string.Join(", ", meter.Watched.Select(w => string.Create(CultureInfo.InvariantCulture, $"{w.Name} (pid {w.Pid}{(w.WithDescendants ? " and descendants" : string.Empty)})"))));
            }

            // The same servers are checkpointed before each run of a comparison: the storage shards' and the peers' own.
            var postgres = new List<string>();
            if (!connection.Embedded)
            {
                postgres.AddRange(CpuDiscovery.StorageShards(connection.Configuration));
            }

            if (parse.GetValue(PeerPostgres) is { Length: > 0 } peerServer)
            {
                postgres.Add(peerServer);
            }

            return settings with { Cpu = meter, CheckpointServers = PostgresCheckpoint.Servers(postgres) };
        }

        /// <summary><c>--peer-postgres</c>.</summary>
        public static readonly Option<string?> PeerPostgres = new("--peer-postgres") { Description = "PostgreSQL connection string for the PostgreSQL-based peers (DistributedLock.Postgres, Hangfire, the table peers); default: the first storage shard's server and database. Give a server of their own to keep them away from Granary's", Recursive = true };

        /// <summary>Reads the common settings.</summary>
        public static BenchSettings Settings(ParseResult parse, Output output) => new(
            GlobalOptions.Require(parse.GetValue(Concurrency), "--concurrency", 1, 4096),
            TimeSpan.FromSeconds(GlobalOptions.Require(parse.GetValue(Warmup), "--warmup", 0, 600)),
            TimeSpan.FromSeconds(GlobalOptions.Require(parse.GetValue(Duration), "--duration", 1, 3600)),
            ShowProgress: true)
        {
            Rounds = GlobalOptions.Require(parse.GetValue(Rounds), "--rounds", 1, 20),
        };
    }

    /// <summary>Builds the command tree.</summary>
    public static Command Create()
    {
        var op = new Option<string>("--op") { Description = "get or put", DefaultValueFactory = _ => "get" };
        var keys = new Option<int>("--keys") { Description = "Distinct keys", DefaultValueFactory = _ => 10_000 };
        var valueSize = new Option<int>("--value-size") { Description = "Value size in bytes", DefaultValueFactory = _ => 100 };
        var document = new Command("document", "Durable document grains: get or put, beside Redis GET/SET or a PostgreSQL table") { op, keys, valueSize };
        document.SetHandler(async (parse, output, ct) =>
        {
            var settings = Common.Settings(parse, output);
            var write = (parse.GetValue(op) ?? "get").ToLowerInvariant() switch
            {
                "get" => false,
                "put" => true,
                var other => throw new UsageException($"--op must be get or put (got '{other}')"),
            };
            var workload = new KeyValueWorkload(write, GlobalOptions.Require(parse.GetValue(keys), "--keys", 1, 10_000_000), GlobalOptions.Require(parse.GetValue(valueSize), "--value-size", 1, Limits.MaxValueLength));
            await using var connection = await GlobalOptions.ConnectAsync(parse, ct);
            settings = await Common.WithCpuAsync(settings, parse, connection, ct);
            var storage = connection.Embedded ? "memory (embedded)" : connection.Configuration["Granary:Storage:Mode"] ?? "Memory";
            await using var granary = new DocumentBenchTarget(connection.Grains, workload, storage);
            await using var peer = CreatePeer(parse, connection.Configuration, workload);
            return await CompareAsync($"document-{(write ? "put" : "get")}", granary, peer, settings, output, ct);
        });

        return new Command("bench", "Closed-loop benchmarks, side by side with a peer system")
        {
            Common.Concurrency, Common.Duration, Common.Warmup, Common.Peer, Common.Rounds, Common.CpuProcess, Common.PeerPostgres, document,
            LockBenchCommands.Create(), CacheBenchCommand.Create(), KeyspaceBenchCommand.Create(), QueueBenchCommand.Create(), TxBenchCommand.Create(), TaskBenchCommand.Create(),
        };
    }

    /// <summary>
    /// Runs Granary, then the peer (if any), <see cref="BenchSettings.Rounds"/> times in turn, and
    /// prints every run with the throughput ratio (the median of the rounds' ratios).
    /// </summary>
    public static async Task<int> CompareAsync(string workload, IBenchTarget granary, IBenchTarget? peer, BenchSettings settings, Output output, CancellationToken ct)
    {
        ArgumentNullException.ThrowIfNull(granary);
        ArgumentNullException.ThrowIfNull(output);
        ArgumentNullException.ThrowIfNull(settings);
        var targets = peer is null ? [granary] : new[] { granary, peer };
        var results = await RunInTurnAsync(workload, targets, settings, async (target, round, run) =>
            (await BenchRunner.RunAsync(target.System, target.Configuration, target.ExecuteAsync, run, ct)) with { Round = round }, ct);
        var ratios = RoundRatios(results, targets.Length, r => r.Throughput);
        double? ratio = ratios.Count > 0 ? BenchMath.Median(ratios) : null;
        output.Document(new { Workload = workload, settings.Concurrency, WarmupSeconds = settings.Warmup.TotalSeconds, FirstRoundWarmupSeconds = settings.WarmupFor(1).TotalSeconds, settings.Rounds, Results = results, ThroughputRatio = ratio, RoundRatios = ratios, MinRoundRatio = ratios.Count > 0 ? ratios.Min() : (double?)null });
        output.Table(
            ["SYSTEM", "ROUND", "OPS/S", "P50 MS", "P99 MS", "P99.9 MS", "CPU US/OP", "ERRORS", "CONFIGURATION"],
            results.Select(r => (IReadOnlyList<string>)
            [
                r.System,
                r.Round.ToString(CultureInfo.InvariantCulture),
                r.Throughput.ToString("N0", CultureInfo.InvariantCulture),
                r.P50Ms.ToString("F2", CultureInfo.InvariantCulture),
                r.P99Ms.ToString("F2", CultureInfo.InvariantCulture),
                r.P999Ms.ToString("F2", CultureInfo.InvariantCulture),
                r.CpuText,
                r.Errors.ToString(CultureInfo.InvariantCulture),
                r.Configuration,
            ]));
        PrintCpu(results, settings, output);
        if (ratio is { } x)
        {
            output.Line($"throughput ratio granary/{peer!.System}: {RatioText(x, ratios)}");
        }

        foreach (var r in results.Where(r => r.FirstError is not null))
        {
            output.Line($"{r.System} first error: {r.FirstError}");
        }

        return results.All(r => r.Operations > 0) ? ExitCodes.Ok : ExitCodes.Failure;
    }

    /// <summary>
    /// Runs every target <see cref="BenchSettings.Rounds"/> times in turn (round 1: Granary, peer;
    /// round 2: ...) and returns one row per run in that order. Each target is set up right before
    /// its first run, not before the other's; before every run but the first the silos must be back at
    /// their idle CPU rate (or a time limit passes), and then before every run the PostgreSQL servers are
    /// checkpointed (<see cref="BenchSettings.CheckpointServers"/>); and a target with background work of its own
    /// (<see cref="IBackgroundBenchTarget"/>: Hangfire's polling server) has it stopped after each of its
    /// windows and started again before its next one: it must not run during another system's window.
    /// </summary>
    public static async Task<List<TRow>> RunInTurnAsync<TRow>(string workload, IReadOnlyList<IBenchTarget> targets, BenchSettings settings, Func<IBenchTarget, int, BenchSettings, Task<TRow>> runOnce, CancellationToken ct)
    {
        ArgumentNullException.ThrowIfNull(targets);
        ArgumentNullException.ThrowIfNull(settings);
        ArgumentNullException.ThrowIfNull(runOnce);
        var rows = new List<TRow>();
        var idleSilos = 0.0;
        if (settings.Cpu is { } meter && targets.Count > 1 && meter.Watched.Any(IsSilo))
        {
            // A silo that has just started compiles and connects for a while: its idle rate is taken once
            // its rate has stopped falling, not from one early reading (0.30-0.53 cores read 7 s after
            // start let every wait of a comparison end at once, each window's leftover work running into
            // the next window).
            var (cores, took) = await meter.SettleAsync(IsSilo, QuietMargin, SettleReadings, QuietLimit, ct);
            idleSilos = cores;
            Output.Progress(string.Create(CultureInfo.InvariantCulture, $"{workload}: silos idle at {cores:F3} cores (settled in {took.TotalSeconds:F0} s)"));
        }

        var window = settings.Operations is { } count ? $"{count:N0} operations" : $"{settings.Duration.TotalSeconds:F0} s";
        for (var round = 1; round <= settings.Rounds; round++)
        {
            foreach (var target in targets)
            {
                if (round == 1)
                {
                    Output.Progress($"{workload}: {target.System} setting up");
                    await target.SetupAsync(ct);
                }
                else if (target is IBackgroundBenchTarget background && targets.Count > 1)
                {
                    Output.Progress($"{workload}: {target.System} starting its background work");
                    await background.StartBackgroundAsync(ct);
                }

                if ((round > 1 || target != targets[0]) && targets.Count > 1 && settings.Cpu is { } cpu && cpu.Watched.Any(IsSilo))
                {
                    // Nothing of one system's may run in the background during another's window: wait until
                    // the silos are back to their idle rate (activations from the last window deactivating,
                    // storage writes draining, tiered JIT settling) before the next warm-up starts. Both
                    // ways: a peer hosted in the same silo (Orleans.Transactions) has work of its own that
                    // outlives its window too.
                    var (cores, quiet) = await cpu.WaitQuietAsync(IsSilo, idleSilos + QuietMargin, QuietLimit, ct);
                    Output.Progress(string.Create(CultureInfo.InvariantCulture, $"{workload}: silos at {cores:F3} cores before {target.System}'s run (idle {idleSilos:F3}){(quiet ? string.Empty : $"; still busy after {QuietLimit.TotalSeconds:F0} s, running anyway")}"));

                    // The idle rate is the lowest seen: settled before the first window, and lowered by
                    // any lower reading since (a baseline too high lets a window start while the last
                    // one's work is still running).
                    idleSilos = Math.Min(idleSilos, cores);
                }

                if (targets.Count > 1 && settings.CheckpointServers.Count > 0)
                {
                    // Once the silos are quiet, what the last window wrote is written out now, not in the next system's window.
                    Output.Progress($"{workload}: {await PostgresCheckpoint.RunAsync(settings.CheckpointServers, ct)} before {target.System}'s run");
                }

                // The configuration once, after set-up (some targets learn part of it there).
                var configuration = round == 1 ? $" ({target.Configuration})" : string.Empty;
                var run = settings.ForRound(round);
                Output.Progress($"{workload}: {target.System}{RoundLabel(round, settings.Rounds)} warm-up {run.Warmup.TotalSeconds:F0} s, measure {window}, {settings.Concurrency} callers{configuration}");
                rows.Add(await runOnce(target, round, run));
                if (target is IBackgroundBenchTarget stopped && targets.Count > 1 && round < settings.Rounds)
                {
                    // Its server stays stopped through the other systems' windows.
                    Output.Progress($"{workload}: {target.System} stopping its background work");
                    await stopped.StopBackgroundAsync(ct);
                }
            }
        }

        return rows;
    }

    /// <summary>
    /// Granary's rate over the best peer configuration's, per round, from rows in
    /// <see cref="RunInTurnAsync{TRow}"/> order: <paramref name="targets"/> rows a round, Granary's
    /// first (none when Granary runs alone).
    /// </summary>
    public static List<double> RoundRatios<TRow>(IReadOnlyList<TRow> rows, int targets, Func<TRow, double> rate)
    {
        ArgumentNullException.ThrowIfNull(rows);
        ArgumentNullException.ThrowIfNull(rate);
        return targets < 2
            ? []
            : rows.Chunk(targets)
                .Where(round => round.Length == targets && round.Skip(1).Max(rate) > 0)
                .Select(round => rate(round[0]) / round.Skip(1).Max(rate))
                .ToList();
    }

    /// <summary>One-second readings within <see cref="QuietMargin"/> of each other that make the silos' idle rate before the first run.</summary>
    public static readonly int SettleReadings = 5;

    /// <summary>How far above their idle rate (in cores) the silos may be when a peer's run starts.</summary>
    public static readonly double QuietMargin = 0.03;

    /// <summary>
    /// Longest wait for the silos to quieten before a run. After a minute of Orleans.Transactions
    /// transfers the silo took 55-60 s to come back to its idle rate (0.33 cores at first, 0.16 after
    /// 20-45 s), so a 30 s limit let that work run into the next system's window.
    /// </summary>
    public static readonly TimeSpan QuietLimit = TimeSpan.FromSeconds(90);

    /// <summary>Whether a watched process is a Granary silo (an external one; embedded, the silo is the client).</summary>
    public static bool IsSilo(WatchedProcess process)
    {
        ArgumentNullException.ThrowIfNull(process);
        return process.Name.StartsWith(CpuDiscovery.SiloPrefix, StringComparison.Ordinal);
    }

    /// <summary>Each run's CPU per operation, process by process (nothing when CPU was not measured).</summary>
    public static void PrintCpu(IEnumerable<BenchResult> results, BenchSettings settings, Output output)
    {
        ArgumentNullException.ThrowIfNull(results);
        ArgumentNullException.ThrowIfNull(settings);
        ArgumentNullException.ThrowIfNull(output);
        foreach (var r in results.Where(r => r.CpuBreakdown is not null))
        {
            output.Line($"  cpu {r.System}{RoundLabel(r.Round, settings.Rounds)}: {r.CpuBreakdown}");
        }
    }

    /// <summary>" (round 2/3)" when there are several rounds.</summary>
    public static string RoundLabel(int round, int rounds) =>
        rounds == 1 ? string.Empty : string.Create(CultureInfo.InvariantCulture, $" (round {round}/{rounds})");

    /// <summary>"1.05x", or "median 1.05x of 3 rounds (0.98x, 1.05x, 1.12x), min 0.98x".</summary>
    public static string RatioText(double median, IReadOnlyList<double> ratios)
    {
        ArgumentNullException.ThrowIfNull(ratios);
        return ratios.Count <= 1
            ? string.Create(CultureInfo.InvariantCulture, $"{median:F2}x")
            : string.Create(CultureInfo.InvariantCulture, $"median {median:F2}x of {ratios.Count} rounds ({string.Join(", ", ratios.Select(r => r.ToString("F2", CultureInfo.InvariantCulture) + "x"))}), min {ratios.Min():F2}x");
    }

    /// <summary>The peer named by <c>--peer</c>, pointed at the servers in configuration.</summary>
    public static IBenchTarget? CreatePeer(ParseResult parse, IConfiguration configuration, KeyValueWorkload workload)
    {
        ArgumentNullException.ThrowIfNull(parse);
        ArgumentNullException.ThrowIfNull(configuration);
        var name = parse.GetValue(Common.Peer);
        switch ((name ?? "none").ToLowerInvariant())
        {
            case "none":
                return null;
            case "redis":
                return new RedisBenchTarget(configuration["Granary:Cluster:RedisConnectionString"] ?? "127.0.0.1:6379", workload);
            case "postgres":
                return new PostgresBenchTarget(PeerPostgres(parse, configuration), workload);
            default:
                throw new UsageException($"--peer must be none, redis or postgres (got '{name}')");
        }
    }

    /// <summary>The PostgreSQL the peer workloads use: <c>--peer-postgres</c>, else the first storage shard's server and database.</summary>
    public static string PeerPostgres(ParseResult parse, IConfiguration configuration)
    {
        ArgumentNullException.ThrowIfNull(parse);
        ArgumentNullException.ThrowIfNull(configuration);
        if (parse.GetValue(Common.PeerPostgres) is { Length: > 0 } own)
        {
            return own;
        }

        var shards = CpuDiscovery.StorageShards(configuration);
        if (shards.Length == 0)
        {
            throw new UsageException("--peer postgres needs a PostgreSQL server: configure Granary:Storage:Shards (scripts/cluster.sh up does)");
        }

        // Same server and database as the first shard, in a table of its own.
        return shards[0];
    }
}
