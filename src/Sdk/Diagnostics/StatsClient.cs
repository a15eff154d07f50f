using System.Globalization;
using Granary.Client.Configuration;
using Granary.Client.DependencyInjection;
using Granary.Diagnostics;

namespace Granary.Client.Diagnostics;

/// <summary>
/// Reads the cluster's metrics snapshots (<see cref="IClusterStatsGrain"/>) and sums them over the
/// silos: grain calls per family (or per method) with rates and latency percentiles, family
/// counters with totals and rates, and gauges (lease holders, queue depth, ...).
/// </summary>
/// <example><code>
/// var summary = await new StatsClient(grains).GetAsync();
/// foreach (var row in summary.Calls) Console.WriteLine($"{row.Family}: {row.PerSecond:F0}/s p99 {row.P99Ms:F1} ms");
/// </code></example>
/// <param name="grains">The cluster client.</param>
/// <param name="options">The call timeout and clock (<see cref="GranaryClientOptions"/>'s defaults when null).</param>
public sealed class StatsClient(IGrainFactory grains, GranaryClientOptions? options = null)
{
    private readonly CallBound _bound = (options ?? new GranaryClientOptions()).Bound();

    private const string CallsInstrument = "granary.grain.calls";
    private const string DurationInstrument = "granary.grain.call.duration";

    /// <summary>The raw per-silo snapshots.</summary>
    public Task<ClusterStats> GetRawAsync(CancellationToken cancellationToken = default) => _bound.On(grains.GetGrain<IClusterStatsGrain>(IClusterStatsGrain.Key).GetAsync(), cancellationToken);

    /// <summary>The summed view; <paramref name="byMethod"/> splits grain calls per grain and method.</summary>
    public async Task<StatsSummary> GetAsync(bool byMethod = false, CancellationToken cancellationToken = default) => Summarise(await GetRawAsync(cancellationToken), byMethod);

    /// <summary>Sums snapshots over silos (pure; exposed for tests).</summary>
    public static StatsSummary Summarise(ClusterStats stats, bool byMethod)
    {
        ArgumentNullException.ThrowIfNull(stats);
        var calls = new Dictionary<string, CallAccumulator>(StringComparer.Ordinal);
        var counters = new Dictionary<string, (string Instrument, IReadOnlyDictionary<string, string> Tags, double Total, double PerSecond)>(StringComparer.Ordinal);
        var gauges = new Dictionary<string, (string Instrument, IReadOnlyDictionary<string, string> Tags, double Value)>(StringComparer.Ordinal);
        foreach (var silo in stats.Silos)
        {
            var seconds = Math.Max(silo.Window.TotalSeconds, 0.001);
            foreach (var series in silo.Series)
            {
                if (series.Instrument is CallsInstrument or DurationInstrument)
                {
                    var family = series.Tags.GetValueOrDefault("family", "?");
                    var key = byMethod ? $"{family}|{series.Tags.GetValueOrDefault("grain", "?")}|{series.Tags.GetValueOrDefault("method", "?")}" : family;
                    if (!calls.TryGetValue(key, out var acc))
                    {
                        acc = calls[key] = new CallAccumulator(family, byMethod ? series.Tags.GetValueOrDefault("grain") : null, byMethod ? series.Tags.GetValueOrDefault("method") : null);
                    }

                    var outcome = series.Tags.GetValueOrDefault("outcome", "ok");
                    if (series.Instrument == CallsInstrument)
                    {
                        acc.Total += series.Total;
                        acc.PerSecond += series.Delta / seconds;
                        if (outcome == "error")
                        {
                            acc.ErrorsPerSecond += series.Delta / seconds;
                            acc.Errors += series.Total;
                        }
                        else if (outcome == "rejected")
                        {
                            acc.Rejected += series.Total;
                        }
                    }
                    else
                    {
                        acc.Latency.Merge(series.Buckets, series.Count, series.Sum, series.Max);
                    }

                    continue;
                }

                var id = series.Instrument + "|" + string.Join(',', series.Tags.Select(t => t.Key + "=" + t.Value));
                if (series.Kind == MetricKinds.Counter)
                {
                    var c = counters.GetValueOrDefault(id, (series.Instrument, series.Tags, 0, 0));
                    counters[id] = (c.Instrument, c.Tags, c.Total + series.Total, c.PerSecond + (series.Delta / seconds));
                }
                else if (series.Kind == MetricKinds.Gauge)
                {
                    var g = gauges.GetValueOrDefault(id, (series.Instrument, series.Tags, 0));
                    gauges[id] = (g.Instrument, g.Tags, g.Value + series.Total);
                }
            }
        }

        return new StatsSummary(
            stats.At,
            stats.Silos.Select(s => s.Silo).ToList(),
            calls.Values.OrderBy(c => c.Family, StringComparer.Ordinal).ThenBy(c => c.Grain, StringComparer.Ordinal).ThenBy(c => c.Method, StringComparer.Ordinal).Select(c => c.ToRow()).ToList(),
            counters.Values.OrderBy(c => c.Instrument, StringComparer.Ordinal).Select(c => new CounterRow(c.Instrument, Describe(c.Tags), c.Total, c.PerSecond)).ToList(),
            gauges.Values.OrderBy(g => g.Instrument, StringComparer.Ordinal).Select(g => new GaugeRow(g.Instrument, Describe(g.Tags), g.Value)).ToList());
    }

    private static string Describe(IReadOnlyDictionary<string, string> tags) =>
        string.Join(' ', tags.OrderBy(t => t.Key, StringComparer.Ordinal).Select(t => string.Create(CultureInfo.InvariantCulture, $"{t.Key}={t.Value}")));

    private sealed class CallAccumulator(string family, string? grain, string? method)
    {
        public string Family { get; } = family;

        public string? Grain { get; } = grain;

        public string? Method { get; } = method;

        public double Total { get; set; }

        public double PerSecond { get; set; }

        public double Errors { get; set; }

        public double ErrorsPerSecond { get; set; }

        public double Rejected { get; set; }

        public LatencyHistogram Latency { get; } = new();

        public CallRow ToRow() => new(Family, Grain, Method, (long)Total, PerSecond, (long)Errors, ErrorsPerSecond, (long)Rejected, Latency.Count, Latency.Percentile(0.5), Latency.Percentile(0.99), Latency.Max);
    }
}

/// <summary>The cluster's metrics summed over silos.</summary>
public sealed record StatsSummary(
    DateTimeOffset At,
    IReadOnlyList<string> Silos,
    IReadOnlyList<CallRow> Calls,
    IReadOnlyList<CounterRow> Counters,
    IReadOnlyList<GaugeRow> Gauges);

/// <summary>Grain calls of a family (or one method): totals since each silo started, rates and latency over the last window.</summary>
public sealed record CallRow(
    string Family,
    string? Grain,
    string? Method,
    long Total,
    double PerSecond,
    long Errors,
    double ErrorsPerSecond,
    long Rejected,
    long WindowCalls,
    double P50Ms,
    double P99Ms,
    double MaxMs);

/// <summary>A family counter: total since each silo started and the last window's rate.</summary>
public sealed record CounterRow(string Instrument, string Tags, double Total, double PerSecond);

/// <summary>A gauge's current value summed over silos.</summary>
public sealed record GaugeRow(string Instrument, string Tags, double Value);
