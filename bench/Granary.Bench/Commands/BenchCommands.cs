using System.CommandLine;
using System.Globalization;
using Granary.Cli.Cli;
using Granary.Server.Options;
using Microsoft.Extensions.Configuration;

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
        public static readonly Option<string> Peer = new("--peer") { Description = "Peer to run side by side: none; redis, postgres (document, lock, cache, queue); orleans-transactions (tx); hangfire (tasks)", DefaultValueFactory = _ => "none", Recursive = true };

        /// <summary><c>--rounds</c>.</summary>
        public static readonly Option<int> Rounds = new("--rounds") { Description = "Run Granary and the peer in turn this many times and quote the median of the rounds' ratios (document, lock, cache, tx, tasks)", DefaultValueFactory = _ => 1, Recursive = true };

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
            var storage = connection.Embedded ? "memory (embedded)" : connection.Configuration["Granary:Storage:Mode"] ?? "Memory";
            await using var granary = new DocumentBenchTarget(connection.Grains, workload, storage);
            await using var peer = CreatePeer(parse.GetValue(Common.Peer), connection.Configuration, workload);
            return await CompareAsync($"document-{(write ? "put" : "get")}", granary, peer, settings, output, ct);
        });

        return new Command("bench", "Closed-loop benchmarks, side by side with a peer system")
        {
            Common.Concurrency, Common.Duration, Common.Warmup, Common.Peer, Common.Rounds, document,
            LockBenchCommands.Create(), CacheBenchCommand.Create(), QueueBenchCommand.Create(), TxBenchCommand.Create(), TaskBenchCommand.Create(),
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
        var results = await RunInTurnAsync(workload, targets, settings, async (target, round) =>
            (await BenchRunner.RunAsync(target.System, target.Configuration, target.ExecuteAsync, settings, ct)) with { Round = round }, ct);
        var ratios = RoundRatios(results, peer is not null, r => r.Throughput);
        double? ratio = ratios.Count > 0 ? BenchMath.Median(ratios) : null;
        output.Document(new { Workload = workload, settings.Concurrency, WarmupSeconds = settings.Warmup.TotalSeconds, settings.Rounds, Results = results, ThroughputRatio = ratio, RoundRatios = ratios });
        output.Table(
            ["SYSTEM", "ROUND", "OPS/S", "P50 MS", "P99 MS", "P99.9 MS", "ERRORS", "CONFIGURATION"],
            results.Select(r => (IReadOnlyList<string>)
            [
                r.System,
                r.Round.ToString(CultureInfo.InvariantCulture),
                r.Throughput.ToString("N0", CultureInfo.InvariantCulture),
                r.P50Ms.ToString("F2", CultureInfo.InvariantCulture),
                r.P99Ms.ToString("F2", CultureInfo.InvariantCulture),
                r.P999Ms.ToString("F2", CultureInfo.InvariantCulture),
                r.Errors.ToString(CultureInfo.InvariantCulture),
                r.Configuration,
            ]));
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
    /// its first run, not before the other's: a peer with background work (Hangfire's polling
    /// server) must not run during Granary's window.
    /// </summary>
    public static async Task<List<TRow>> RunInTurnAsync<TRow>(string workload, IReadOnlyList<IBenchTarget> targets, BenchSettings settings, Func<IBenchTarget, int, Task<TRow>> runOnce, CancellationToken ct)
    {
        ArgumentNullException.ThrowIfNull(targets);
        ArgumentNullException.ThrowIfNull(settings);
        ArgumentNullException.ThrowIfNull(runOnce);
        var rows = new List<TRow>();
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

                // The configuration once, after set-up (some targets learn part of it there).
                var configuration = round == 1 ? $" ({target.Configuration})" : string.Empty;
                Output.Progress($"{workload}: {target.System}{RoundLabel(round, settings.Rounds)} warm-up {settings.Warmup.TotalSeconds:F0} s, measure {window}, {settings.Concurrency} callers{configuration}");
                rows.Add(await runOnce(target, round));
            }
        }

        return rows;
    }

    /// <summary>Granary's rate over the peer's, per round, from rows in <see cref="RunInTurnAsync{TRow}"/> order (none without a peer).</summary>
    public static List<double> RoundRatios<TRow>(IReadOnlyList<TRow> rows, bool withPeer, Func<TRow, double> rate)
    {
        ArgumentNullException.ThrowIfNull(rows);
        ArgumentNullException.ThrowIfNull(rate);
        return !withPeer
            ? []
            : rows.Chunk(2).Where(pair => rate(pair[1]) > 0).Select(pair => rate(pair[0]) / rate(pair[1])).ToList();
    }

    /// <summary>" (round 2/3)" when there are several rounds.</summary>
    public static string RoundLabel(int round, int rounds) =>
        rounds == 1 ? string.Empty : string.Create(CultureInfo.InvariantCulture, $" (round {round}/{rounds})");

    /// <summary>"1.05x", or "median 1.05x of 3 rounds (0.98x, 1.05x, 1.12x)".</summary>
    public static string RatioText(double median, IReadOnlyList<double> ratios)
    {
        ArgumentNullException.ThrowIfNull(ratios);
        return ratios.Count <= 1
            ? string.Create(CultureInfo.InvariantCulture, $"{median:F2}x")
            : string.Create(CultureInfo.InvariantCulture, $"median {median:F2}x of {ratios.Count} rounds ({string.Join(", ", ratios.Select(r => r.ToString("F2", CultureInfo.InvariantCulture) + "x"))})");
    }

    /// <summary>The peer named by <c>--peer</c>, pointed at the servers in configuration.</summary>
    public static IBenchTarget? CreatePeer(string? name, IConfiguration configuration, KeyValueWorkload workload)
    {
        ArgumentNullException.ThrowIfNull(configuration);
        switch ((name ?? "none").ToLowerInvariant())
        {
            case "none":
                return null;
            case "redis":
                return new RedisBenchTarget(configuration["Granary:Cluster:RedisConnectionString"] ?? "127.0.0.1:6379", workload);
            case "postgres":
                return new PostgresBenchTarget(PeerPostgres(configuration), workload);
            default:
                throw new UsageException($"--peer must be none, redis or postgres (got '{name}')");
        }
    }

    /// <summary>The PostgreSQL the peer workloads use: the first storage shard's server and database.</summary>
    public static string PeerPostgres(IConfiguration configuration)
    {
        ArgumentNullException.ThrowIfNull(configuration);
        var storage = new GranaryStorageOptions();
        configuration.GetSection(GranaryStorageOptions.SectionName).Bind(storage);
        if (storage.Shards.Length == 0)
        {
            throw new UsageException("--peer postgres needs a PostgreSQL server: configure Granary:Storage:Shards (scripts/cluster.sh up does)");
        }

        // Same server and database as the first shard, in a table of its own.
        return storage.Shards[0];
    }
}
