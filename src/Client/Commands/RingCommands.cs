using System.CommandLine;
using System.Globalization;
using Granary.Cli.Cli;
using Granary.Hashing;

namespace Granary.Cli.Commands;

/// <summary><c>granary ring ...</c>: the consistent hash ring on its own.</summary>
public static class RingCommands
{
    /// <summary>Builds the command tree.</summary>
    public static Command Create()
    {
        var nodes = new Option<int>("--nodes") { Description = "Members on the ring", DefaultValueFactory = _ => 10 };
        var vnodes = new Option<int>("--vnodes") { Description = "Virtual nodes per member", DefaultValueFactory = _ => ConsistentHashRing.DefaultVirtualNodesPerWeight };
        var keys = new Option<int>("--keys") { Description = "Synthetic keys to place", DefaultValueFactory = _ => 1_000_000 };
        var factor = new Option<double>("--bounded-load") { Description = "c for the bounded-load placement (>= 1)", DefaultValueFactory = _ => 1.25 };
        var analyze = new Command("analyze", "Load balance (peak-to-mean) and keys moved when a member is added or removed")
        {
            nodes, vnodes, keys, factor,
        };
        analyze.SetHandler((parse, output, ct) =>
        {
            var n = GlobalOptions.Require(parse.GetValue(nodes), "--nodes", 2, 10_000);
            var v = GlobalOptions.Require(parse.GetValue(vnodes), "--vnodes", 1, ConsistentHashRing.MaxVirtualNodesPerWeight);
            var k = GlobalOptions.Require(parse.GetValue(keys), "--keys", 1, RingAnalysis.MaxKeys);
            var c = parse.GetValue(factor);
            if (double.IsNaN(c) || c < 1.0 || c > 10)
            {
                throw new UsageException("--bounded-load must be between 1 and 10");
            }

            var report = RingAnalysis.Analyze(n, v, k, c);
            output.Document(new
            {
                report.Nodes,
                VirtualNodesPerNode = report.VirtualNodesPerWeight,
                report.Keys,
                report.PeakToMean,
                report.MinToMean,
                report.RelativeStdDev,
                report.MovedOnAdd,
                report.IdealMovedOnAdd,
                MovedOnAddRatioToIdeal = report.MovedOnAdd / report.IdealMovedOnAdd,
                report.MovedOnAddToOldNodes,
                report.MovedOnRemove,
                report.IdealMovedOnRemove,
                MovedOnRemoveRatioToIdeal = report.MovedOnRemove / report.IdealMovedOnRemove,
                report.BoundedLoadFactor,
                report.BoundedLoadPeakToMean,
                ModuloMovedOnAdd = ModuloMoved(n, Math.Min(k, 200_000)),
            });
            output.Line(string.Create(CultureInfo.InvariantCulture, $"ring: {report.Nodes} nodes x {report.VirtualNodesPerWeight} virtual nodes, {report.Keys:N0} keys"));
            output.Line(string.Create(CultureInfo.InvariantCulture, $"  peak-to-mean load      {report.PeakToMean:F3}   (min-to-mean {report.MinToMean:F3}, relative stddev {report.RelativeStdDev:P1})"));
            output.Line(string.Create(CultureInfo.InvariantCulture, $"  moved on add           {report.MovedOnAdd:P2}   ideal 1/(n+1) = {report.IdealMovedOnAdd:P2}   ratio {report.MovedOnAdd / report.IdealMovedOnAdd:F2}   to old nodes: {report.MovedOnAddToOldNodes}"));
            output.Line(string.Create(CultureInfo.InvariantCulture, $"  moved on remove        {report.MovedOnRemove:P2}   ideal 1/n = {report.IdealMovedOnRemove:P2}   ratio {report.MovedOnRemove / report.IdealMovedOnRemove:F2}"));
            output.Line(string.Create(CultureInfo.InvariantCulture, $"  bounded load (c={report.BoundedLoadFactor})  peak-to-mean {report.BoundedLoadPeakToMean:F3}"));
            output.Line(string.Create(CultureInfo.InvariantCulture, $"  hash mod n instead     {ModuloMoved(n, Math.Min(k, 200_000)):P2} of keys move on add (why rings exist)"));
            return Task.FromResult(ExitCodes.Ok);
        });

        return new Command("ring", "Consistent hash ring tools") { analyze };
    }

    /// <summary>Fraction of keys that change bucket under <c>hash mod n</c> when n grows by one.</summary>
    public static double ModuloMoved(int n, int keys)
    {
        var moved = 0;
        for (var k = 0; k < keys; k++)
        {
            var h = Granary.Hashing.StableHash.Hash64(string.Create(CultureInfo.InvariantCulture, $"key-{k}"));
            if (h % (ulong)n != h % (ulong)(n + 1))
            {
                moved++;
            }
        }

        return (double)moved / keys;
    }
}
