using System.CommandLine;
using System.Globalization;
using Granary.Cli.Cli;
using Granary.Client.Diagnostics;

namespace Granary.Cli.Commands;

/// <summary><c>granary stats</c>: the cluster's metrics, summed over the silos' latest snapshots.</summary>
public static class StatsCommands
{
    /// <summary>Builds the command.</summary>
    public static Command Create()
    {
        var byMethod = new Option<bool>("--by-method") { Description = "Split grain calls per grain and method instead of per family" };
        var family = new Option<string?>("--family") { Description = "Only this family (locks, caching, queues, transactions, scheduling, ...)" };
        var cmd = new Command("stats", "Grain calls (rate, errors, p50/p99 over the last window), family counters and gauges (lease holders, queue depth, ...), summed over the silos") { byMethod, family };
        cmd.SetHandler(async (parse, output, ct) =>
        {
            await using var connection = await GlobalOptions.ConnectAsync(parse, ct);
            var summary = await new StatsClient(connection.Grains).GetAsync(parse.GetValue(byMethod));
            var only = parse.GetValue(family);
            if (!string.IsNullOrWhiteSpace(only))
            {
                summary = summary with
                {
                    Calls = summary.Calls.Where(c => c.Family.Equals(only, StringComparison.OrdinalIgnoreCase)).ToList(),
                    Counters = summary.Counters.Where(c => c.Instrument.Contains("." + only + ".", StringComparison.OrdinalIgnoreCase)).ToList(),
                    Gauges = summary.Gauges.Where(g => g.Instrument.Contains("." + only + ".", StringComparison.OrdinalIgnoreCase)).ToList(),
                };
            }

            output.Document(summary);
            if (summary.Silos.Count == 0)
            {
                output.Line("no silo has reported metrics yet (silos report every Granary:Telemetry:StatsInterval, 2 s by default); try again shortly");
                return ExitCodes.Failure;
            }

            var inv = CultureInfo.InvariantCulture;
            output.Line(string.Create(inv, $"{summary.Silos.Count} silo(s) reporting, at {summary.At:u}"));
            output.Line();
            output.Table(
                ["FAMILY", "GRAIN", "METHOD", "CALLS", "CALLS/S", "ERRORS", "REJECTED", "P50 MS", "P99 MS", "MAX MS"],
                summary.Calls.Select(c => (IReadOnlyList<string>)
                [
                    c.Family, c.Grain ?? "*", c.Method ?? "*",
                    c.Total.ToString("N0", inv), c.PerSecond.ToString("N1", inv),
                    c.Errors.ToString("N0", inv), c.Rejected.ToString("N0", inv),
                    c.P50Ms.ToString("F2", inv), c.P99Ms.ToString("F2", inv), c.MaxMs.ToString("F2", inv),
                ]));
            if (summary.Counters.Count > 0)
            {
                output.Line();
                output.Table(["COUNTER", "TAGS", "TOTAL", "PER S"], summary.Counters.Select(c => (IReadOnlyList<string>)[c.Instrument, c.Tags, c.Total.ToString("N0", inv), c.PerSecond.ToString("N1", inv)]));
            }

            if (summary.Gauges.Count > 0)
            {
                output.Line();
                output.Table(["GAUGE", "TAGS", "VALUE"], summary.Gauges.Select(g => (IReadOnlyList<string>)[g.Instrument, g.Tags, g.Value.ToString("N0", inv)]));
            }

            return ExitCodes.Ok;
        });
        return cmd;
    }
}
