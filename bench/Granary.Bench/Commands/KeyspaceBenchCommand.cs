using System.CommandLine;
using System.Diagnostics;
using System.Globalization;
using Granary.Caching;
using Granary.Cli.Cli;
using Granary.Cli.Commands;

namespace Granary.Bench.Commands;

/// <summary>
/// <c>granary bench keyspace</c>: one cache shard's engine (<see cref="CacheKeyspace"/>) in this process, on one thread,
/// without grain calls or network: the time per GET or SET, and how much of it the garbage collector's pauses take.
/// Each command is a fresh copy of its key and value, as a deserialized batch gives the shard.
/// </summary>
public static class KeyspaceBenchCommand
{
    /// <summary>Builds the subcommand.</summary>
    public static Command Create()
    {
        var op = new Option<string>("--op") { Description = "get or set", DefaultValueFactory = _ => "set" };
        var keys = new Option<int>("--keys") { Description = "Distinct keys (preloaded)", DefaultValueFactory = _ => 100_000 };
        var valueSize = new Option<int>("--value-size") { Description = "Value size in characters", DefaultValueFactory = _ => 100 };
        var operations = new Option<int>("--operations") { Description = "Operations per round", DefaultValueFactory = _ => 3_000_000 };
        var command = new Command("keyspace", "One cache shard's engine in process (no grain calls, no network): time per GET or SET and the GC's share") { op, keys, valueSize, operations };
        command.SetHandler((parse, output, ct) =>
        {
            var write = (parse.GetValue(op) ?? "set").ToLowerInvariant() switch
            {
                "get" => false,
                "set" => true,
                var other => throw new UsageException($"--op must be get or set (got '{other}')"),
            };
            var count = GlobalOptions.Require(parse.GetValue(keys), "--keys", 1, 10_000_000);
            var size = GlobalOptions.Require(parse.GetValue(valueSize), "--value-size", 1, Limits.Caching.MaxValueLength);
            var perRound = GlobalOptions.Require(parse.GetValue(operations), "--operations", 1, 1_000_000_000);
            var rounds = GlobalOptions.Require(parse.GetValue(BenchCommands.Common.Rounds), "--rounds", 1, 100);
            var workload = new CacheWorkload(write ? CacheBenchOp.Set : CacheBenchOp.Get, count, size);
            var keyspace = new CacheKeyspace(new CacheKeyspaceOptions { MaxMemoryBytes = long.MaxValue }, TimeProvider.System);
            for (var i = 0; i < count; i++)
            {
                keyspace.Execute(["SET", CacheWorkload.Key(i), new string(workload.ValueFor(i))]);
            }

            var rows = new List<IReadOnlyList<string>>();
            var results = new List<KeyspaceRound>();
            for (var round = 1; round <= rounds && !ct.IsCancellationRequested; round++)
            {
                var result = Round(keyspace, workload, write, perRound);
                results.Add(result with { Round = round });
                rows.Add([round.ToString(CultureInfo.InvariantCulture), Format(result.NanosecondsPerOp), Format(result.PauseNanosecondsPerOp), result.Gen0.ToString(CultureInfo.InvariantCulture), result.Gen1.ToString(CultureInfo.InvariantCulture), result.Gen2.ToString(CultureInfo.InvariantCulture)]);
            }

            output.Line($"keyspace {(write ? "SET" : "GET")}: {count:N0} keys, values of {size} characters, {perRound:N0} operations per round, one thread, {(System.Runtime.GCSettings.IsServerGC ? "server" : "workstation")} GC");
            output.Table(["ROUND", "NS/OP", "GC PAUSE NS/OP", "GEN0", "GEN1", "GEN2"], rows);
            output.Document(results);
            return Task.FromResult(0);
        });
        return command;
    }

    /// <summary>One round of <paramref name="operations"/> GETs or SETs on <paramref name="keyspace"/>, timed.</summary>
    public static KeyspaceRound Round(CacheKeyspace keyspace, CacheWorkload workload, bool write, int operations)
    {
        var (gen0, gen1, gen2, pause) = (GC.CollectionCount(0), GC.CollectionCount(1), GC.CollectionCount(2), GC.GetTotalPauseDuration());
        var clock = Stopwatch.StartNew();
        for (var i = 0; i < operations; i++)
        {
            var key = new string(workload.KeyFor(0, i));
            _ = keyspace.Execute(write ? ["SET", key, new string(workload.ValueFor(i))] : ["GET", key]);
        }

        clock.Stop();
        return new KeyspaceRound(
            0,
            clock.Elapsed.TotalNanoseconds / operations,
            (GC.GetTotalPauseDuration() - pause).TotalNanoseconds / operations,
            GC.CollectionCount(0) - gen0,
            GC.CollectionCount(1) - gen1,
            GC.CollectionCount(2) - gen2);
    }

    private static string Format(double nanoseconds) => nanoseconds.ToString("F0", CultureInfo.InvariantCulture);

    /// <summary>One round: nanoseconds per operation, of which GC pauses, and the collections of each generation.</summary>
    public sealed record KeyspaceRound(int Round, double NanosecondsPerOp, double PauseNanosecondsPerOp, int Gen0, int Gen1, int Gen2);
}
