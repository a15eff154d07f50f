using Granary.Security;

namespace Granary.Diagnostics;

/// <summary>
/// Where every silo's metrics snapshot meets: each silo reports what its meters recorded every few
/// seconds, and <c>granary stats</c> reads the latest report of each live silo. Volatile by design:
/// a new activation is complete again after one report interval.
/// </summary>
[Requires(Permission.ClusterRead)]
[Alias("granary.diagnostics.stats")]
public interface IClusterStatsGrain : IGrainWithStringKey
{
    /// <summary>The one instance's key.</summary>
    public const string Key = "cluster";

    /// <summary>Stores a silo's latest snapshot (replacing its previous one).</summary>
    [Requires(Permission.Internal)]
    [Alias("report")]
    Task ReportAsync(SiloStatsSnapshot snapshot);

    /// <summary>The latest snapshot of every silo that reported recently, by silo address.</summary>
    [Alias("get")]
    Task<ClusterStats> GetAsync();
}

/// <summary>One silo's metrics over its last report window.</summary>
[GenerateSerializer, Alias("granary.diagnostics.silo-stats")]
public sealed record SiloStatsSnapshot(
    [property: Id(0)] string Silo,
    [property: Id(1)] DateTimeOffset TakenAt,
    [property: Id(2)] TimeSpan Window,
    [property: Id(3)] IReadOnlyList<MetricSeries> Series);

/// <summary>
/// One instrument with one set of tags. Counters carry a running <see cref="Total"/> and the
/// <see cref="Delta"/> of the window; gauges carry their last value in <see cref="Total"/>;
/// histograms carry the window's <see cref="Buckets"/> (see <c>LatencyHistogram</c>), count, sum and max.
/// </summary>
[GenerateSerializer, Alias("granary.diagnostics.metric-series")]
public sealed record MetricSeries(
    [property: Id(0)] string Instrument,
    [property: Id(1)] string Kind,
    [property: Id(2)] IReadOnlyDictionary<string, string> Tags,
    [property: Id(3)] double Total,
    [property: Id(4)] double Delta,
    [property: Id(5)] long Count,
    [property: Id(6)] double Sum,
    [property: Id(7)] double Max,
    [property: Id(8)] IReadOnlyDictionary<int, long> Buckets,
    [property: Id(9)] string? Unit);

/// <summary>The latest snapshots of the silos that reported within the freshness bound.</summary>
[GenerateSerializer, Alias("granary.diagnostics.cluster-stats")]
public sealed record ClusterStats(
    [property: Id(0)] DateTimeOffset At,
    [property: Id(1)] IReadOnlyList<SiloStatsSnapshot> Silos);

/// <summary>Names shared by the silo's meters and the readers of their snapshots.</summary>
public static class MetricKinds
{
    /// <summary>Monotonic counter.</summary>
    public const string Counter = "counter";

    /// <summary>Value that goes up and down (observable gauge or up-down counter).</summary>
    public const string Gauge = "gauge";

    /// <summary>Distribution of durations (ms).</summary>
    public const string Histogram = "histogram";
}
