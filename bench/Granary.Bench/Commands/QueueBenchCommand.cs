using System.CommandLine;
using System.Globalization;
using Granary.Bench.Cpu;
using Granary.Cli.Cli;
using Granary.Client.Configuration;
using Granary.Server.Configuration;

namespace Granary.Bench.Commands;

/// <summary><c>granary bench queue</c>: producers and consumers (enqueue -> dequeue -> ack) beside a PostgreSQL SKIP LOCKED queue or a Redis reliable queue; <c>--depth N</c> compares enqueue cost at depth 0 and N.</summary>
public static class QueueBenchCommand
{
    /// <summary>Builds the subcommand.</summary>
    public static Command Create()
    {
        var producers = new Option<int>("--producers") { Description = "Producer tasks", DefaultValueFactory = _ => 16 };
        var consumers = new Option<int>("--consumers") { Description = "Consumer tasks", DefaultValueFactory = _ => 16 };
        var size = new Option<int>("--message-size") { Description = "Message body bytes", DefaultValueFactory = _ => 256 };
        var partitions = new Option<int>("--partitions") { Description = "Granary queue partitions", DefaultValueFactory = _ => 8 };
        var batch = new Option<int>("--batch") { Description = "Messages per dequeue (Granary and PostgreSQL; Redis LMOVE takes one)", DefaultValueFactory = _ => 10 };
        var depth = new Option<int>("--depth") { Description = "Instead of the mixed run: enqueue-only cost at depth 0 and at this depth (Granary)", DefaultValueFactory = _ => 0 };
        var redis = new Option<string?>("--redis") { Description = "Peer Redis (default: Granary:Cluster:RedisConnectionString; the credentials of Granary:Security:Servers fill in a password it does not name); its persistence settings are printed beside its numbers" };
        var command = new Command("queue", "Durable work queue: 16 producers + 16 consumers, 256-byte messages, enqueue -> dequeue -> ack")
        {
            producers, consumers, size, partitions, batch, depth, redis,
        };
        command.SetHandler(async (parse, output, ct) =>
        {
            var settings = BenchCommands.Common.Settings(parse, output);
            var p = GlobalOptions.Require(parse.GetValue(producers), "--producers", 1, 1024);
            var c = GlobalOptions.Require(parse.GetValue(consumers), "--consumers", 0, 1024);
            var body = new byte[GlobalOptions.Require(parse.GetValue(size), "--message-size", 1, Limits.Queues.MaxBodyBytes)];
            Random.Shared.NextBytes(body);
            var parts = GlobalOptions.Require(parse.GetValue(partitions), "--partitions", 1, Limits.Queues.MaxPartitions);
            var b = GlobalOptions.Require(parse.GetValue(batch), "--batch", 1, Limits.MaxBatchSize);
            var d = GlobalOptions.Require(parse.GetValue(depth), "--depth", 0, 10_000_000);
            var peerName = (parse.GetValue(BenchCommands.Common.Peer) ?? "none").ToLowerInvariant();
            await using var connection = await GlobalOptions.ConnectAsync(parse, ct);
            settings = await BenchCommands.Common.WithCpuAsync(settings, parse, connection, ct);
            var storage = connection.Embedded ? "memory (embedded)" : connection.Configuration["Granary:Storage:Mode"] ?? "Memory";
            var results = new List<QueueBenchResult>();
            if (d > 0)
            {
                foreach (var preload in new[] { 0, d })
                {
                    await using var target = new GranaryQueueBenchTarget(connection.Grains, parts, b, storage);
                    await target.SetupAsync(ct);
                    if (preload > 0)
                    {
                        Output.Progress(string.Create(CultureInfo.InvariantCulture, $"queue-depth: preloading {preload:N0} messages"));
                        await target.PreloadAsync(preload, body, ct);
                    }

                    Output.Progress(string.Create(CultureInfo.InvariantCulture, $"queue-depth: enqueue only at depth {preload:N0}, {p} producers, warm-up {settings.Warmup.TotalSeconds:F0} s, measure {settings.Duration.TotalSeconds:F0} s"));
                    results.Add(await QueueBenchRunner.RunAsync(target, p, 0, body, preload, settings.Warmup, settings.Duration, ct, settings.Cpu));
                }

                var costRatio = results[1].EnqueuedPerSecond > 0 ? results[0].EnqueuedPerSecond / results[1].EnqueuedPerSecond : double.NaN;
                var p50Ratio = results[0].EnqueueP50Ms > 0 ? results[1].EnqueueP50Ms / results[0].EnqueueP50Ms : double.NaN;
                output.Document(new { Workload = "queue-enqueue-depth", Results = results, CostRatioDeepToEmpty = costRatio, P50RatioDeepToEmpty = p50Ratio });
                Print(output, results);
                output.Line(string.Create(CultureInfo.InvariantCulture, $"enqueue cost at depth {d:N0} vs 0: {costRatio:F2}x (time per enqueue at fixed concurrency), p50 {p50Ratio:F2}x"));
                return results.All(r => r.EnqueuedPerSecond > 0) ? ExitCodes.Ok : ExitCodes.Failure;
            }

            await using var granary = new GranaryQueueBenchTarget(connection.Grains, parts, b, storage);
            await using IQueueBenchTarget? peer = peerName switch
            {
                "none" => null,
                "postgres" => new PostgresQueueBenchTarget(BenchCommands.PeerPostgres(parse, connection.Configuration), b),
                "redis" => new RedisQueueBenchTarget((parse.GetValue(redis) is { } peerRedis ? RedisSecrets.RedisWithCredentials(peerRedis, connection.Configuration) : null) ?? connection.Configuration["Granary:Cluster:RedisConnectionString"] ?? "127.0.0.1:6379"),
                _ => throw new UsageException($"--peer must be none, redis or postgres (got '{peerName}')"),
            };
            var targets = peer is null ? [granary] : new[] { granary, peer };
            for (var round = 1; round <= settings.Rounds; round++)
            {
                foreach (var target in targets)
                {
                    if (round == 1)
                    {
                        Output.Progress($"queue: {target.System} setting up ({target.Configuration})");
                        await target.SetupAsync(ct);
                    }

                    var warmup = settings.WarmupFor(round);
                    Output.Progress(string.Create(CultureInfo.InvariantCulture, $"queue: {target.System}{BenchCommands.RoundLabel(round, settings.Rounds)} warm-up {warmup.TotalSeconds:F0} s, measure {settings.Duration.TotalSeconds:F0} s, {p} producers + {c} consumers"));
                    results.Add(await QueueBenchRunner.RunAsync(target, p, c, body, 0, warmup, settings.Duration, ct, settings.Cpu) with { Round = round });
                }
            }

            var ratios = BenchCommands.RoundRatios(results, targets.Length, r => r.AckedPerSecond);
            double? ratio = ratios.Count > 0 ? BenchMath.Median(ratios) : null;
            output.Document(new { Workload = "queue", Producers = p, Consumers = c, MessageBytes = body.Length, settings.Rounds, Results = results, AckedThroughputRatio = ratio, RoundRatios = ratios, MinRoundRatio = ratios.Count > 0 ? ratios.Min() : (double?)null });
            Print(output, results);
            if (ratio is { } x)
            {
                output.Line($"end-to-end (acked messages/s) ratio granary/{peer!.System}: {BenchCommands.RatioText(x, ratios)}");
            }

            return results.All(r => r.EnqueuedPerSecond > 0) ? ExitCodes.Ok : ExitCodes.Failure;
        });
        return command;
    }

    private static void Print(Output output, IReadOnlyList<QueueBenchResult> results)
    {
        static string F(double v, string format) => v.ToString(format, CultureInfo.InvariantCulture);
        output.Table(
            ["SYSTEM", "ROUND", "START DEPTH", "ENQ/S", "ACKED/S", "ENQ P50", "ENQ P99", "ENQ P99.9", "DEQ+ACK P50", "DEQ+ACK P99", "CPU US/MSG", "ERRORS"],
            results.Select(r => (IReadOnlyList<string>)
            [
                r.System, r.Round.ToString(CultureInfo.InvariantCulture), F(r.PreloadedDepth, "N0"), F(r.EnqueuedPerSecond, "N0"), F(r.AckedPerSecond, "N0"),
                F(r.EnqueueP50Ms, "F2"), F(r.EnqueueP99Ms, "F2"), F(r.EnqueueP999Ms, "F2"), F(r.ConsumeP50Ms, "F2"), F(r.ConsumeP99Ms, "F2"),
                r.Cpu is null ? "-" : F(r.Cpu.TotalMicrosPerOperation, "F1"),
                r.Errors.ToString(CultureInfo.InvariantCulture),
            ]));
        foreach (var r in results)
        {
            output.Line($"  {r.System}: {r.Configuration}");
            if (r.Cpu is not null)
            {
                output.Line($"    cpu (per message): {CpuText.Breakdown(r.Cpu)}");
            }

            if (r.FirstError is not null)
            {
                output.Line($"  {r.System} first error: {r.FirstError}");
            }
        }
    }
}
