using System.Collections.Concurrent;
using System.Diagnostics.Metrics;
using System.Globalization;
using Granary.Diagnostics;
using Microsoft.Extensions.Logging;
using Microsoft.Extensions.Options;
using Orleans.Runtime;

namespace Granary.Server.Telemetry;

/// <summary>
/// Listens to this silo's Granary meters (<c>Granary</c> and <c>Granary.*</c>) and, every
/// <see cref="TelemetryOptions.StatsInterval"/>, sends a <see cref="SiloStatsSnapshot"/> to the
/// cluster's <see cref="IClusterStatsGrain"/>. Counters keep running totals plus the window's delta,
/// gauges their latest value, histograms the window's buckets. A failed report is logged and the
/// next one replaces it: the snapshots are for operators, nothing depends on them.
/// </summary>
public sealed partial class SiloStatsCollector(
    IGrainFactory grains,
    ILocalSiloDetails silo,
    IMeterFactory meterFactory,
    IOptions<TelemetryOptions> options,
    TimeProvider time,
    ILogger<SiloStatsCollector> logger) : ILifecycleParticipant<ISiloLifecycle>, IDisposable
{
    private static readonly TimeSpan ReportTimeout = TimeSpan.FromSeconds(5);
    private readonly ConcurrentDictionary<string, Series> _series = new(StringComparer.Ordinal);
    private readonly ConcurrentDictionary<FastKey, Series> _byFastKey = new();
    private readonly CancellationTokenSource _stop = new();
    private MeterListener? _listener;
    private Task? _loop;
    private long _cycle;
    private DateTimeOffset _lastReport;

    /// <summary>True for the meters this collector reads.</summary>
    public static bool IsGranaryMeter(string name) =>
        name == GrainCallMetricsFilter.MeterName || name.StartsWith(GrainCallMetricsFilter.MeterName + ".", StringComparison.Ordinal);

    /// <inheritdoc/>
    public void Participate(ISiloLifecycle lifecycle)
    {
        ArgumentNullException.ThrowIfNull(lifecycle);
        lifecycle.Subscribe(nameof(SiloStatsCollector), ServiceLifecycleStage.Active, StartAsync, StopAsync);
    }

    /// <summary>Builds the snapshot of what was recorded since the previous one (exposed for tests).</summary>
    public SiloStatsSnapshot TakeSnapshot()
    {
        var now = time.GetUtcNow();
        var cycle = Interlocked.Increment(ref _cycle);
        _listener?.RecordObservableInstruments();
        var window = _lastReport == default ? options.Value.StatsInterval : now - _lastReport;
        _lastReport = now;
        var list = new List<MetricSeries>(_series.Count);
        List<string>? gone = null;
        foreach (var (key, series) in _series)
        {
            if (series.Observed && series.Cycle != cycle)
            {
                // An observable that did not report this time: the grains it measured are gone (e.g.
                // the last partition of a queue was collected). It holds no running total, so it is
                // forgotten; otherwise every queue name ever seen would keep its series for good.
                (gone ??= []).Add(key);
                continue;
            }

            list.Add(series.Take());
        }

        if (gone is not null)
        {
            Forget(gone);
        }

        return new SiloStatsSnapshot(silo.SiloAddress.ToString(), now, window, list);
    }

    /// <summary>Keys of the series currently held, <c>instrument|tag=value,...</c> (exposed for tests).</summary>
    public IReadOnlyCollection<string> SeriesKeys => [.. _series.Keys];

    /// <inheritdoc/>
    public void Dispose()
    {
        _listener?.Dispose();
        _stop.Dispose();
    }

    private Task StartAsync(CancellationToken cancellationToken)
    {
        if (options.Value.StatsInterval <= TimeSpan.Zero)
        {
            return Task.CompletedTask;
        }

        _listener = new MeterListener
        {
            InstrumentPublished = (instrument, listener) =>
            {
                // Only this silo's meters: silos sharing a process (tests) each have their own factory.
                if (IsGranaryMeter(instrument.Meter.Name) && ReferenceEquals(instrument.Meter.Scope, meterFactory))
                {
                    listener.EnableMeasurementEvents(instrument);
                }
            },
        };
        _listener.SetMeasurementEventCallback<long>((i, v, t, _) => Record(i, v, t));
        _listener.SetMeasurementEventCallback<int>((i, v, t, _) => Record(i, v, t));
        _listener.SetMeasurementEventCallback<double>((i, v, t, _) => Record(i, v, t));
        _listener.Start();
        _lastReport = time.GetUtcNow();
        _loop = Task.Run(() => LoopAsync(_stop.Token), CancellationToken.None);
        return Task.CompletedTask;
    }

    private async Task StopAsync(CancellationToken cancellationToken)
    {
        await _stop.CancelAsync();
        if (_loop is not null)
        {
            try
            {
                await _loop.WaitAsync(cancellationToken);
            }
            catch (OperationCanceledException)
            {
                // Stopping: the loop ends at its next await.
            }
        }
    }

    private async Task LoopAsync(CancellationToken cancellationToken)
    {
        var stats = grains.GetGrain<IClusterStatsGrain>(IClusterStatsGrain.Key);
        while (!cancellationToken.IsCancellationRequested)
        {
            try
            {
                await Task.Delay(options.Value.StatsInterval, time, cancellationToken);
                await stats.ReportAsync(TakeSnapshot()).WaitAsync(ReportTimeout, cancellationToken);
            }
            catch (OperationCanceledException) when (cancellationToken.IsCancellationRequested)
            {
                return;
            }
            catch (Exception ex) when (ex is not OutOfMemoryException)
            {
                LogReportFailed(logger, ex.GetType().Name, ex.Message);
            }
        }
    }

    private void Record(Instrument instrument, double value, ReadOnlySpan<KeyValuePair<string, object?>> tags)
    {
        // Hot path (every grain call records here): look the series up by the tags as given, without
        // building the canonical key; the first sight of a tag order resolves it through that key.
        Series? series;
        if (tags.Length <= FastKey.MaxTags)
        {
            var fast = new FastKey(instrument, tags);
            if (!_byFastKey.TryGetValue(fast, out series))
            {
                series = Resolve(instrument, tags);
                _byFastKey.TryAdd(fast, series);
            }
        }
        else
        {
            series = Resolve(instrument, tags);
        }

        series.Add(value, Volatile.Read(ref _cycle));
    }

    private Series Resolve(Instrument instrument, ReadOnlySpan<KeyValuePair<string, object?>> tags)
    {
        var key = KeyOf(instrument, tags);
        if (!_series.TryGetValue(key, out var series))
        {
            var created = Series.For(instrument, tags);
            series = _series.GetOrAdd(key, created);
        }

        return series;
    }

    /// <summary>
    /// Drops series by key. Only observable series are dropped, and those are recorded only from
    /// <see cref="TakeSnapshot"/> (<c>RecordObservableInstruments</c>), so no measurement races the removal.
    /// </summary>
    private void Forget(List<string> keys)
    {
        var dropped = new HashSet<Series>(ReferenceEqualityComparer.Instance);
        foreach (var key in keys)
        {
            if (_series.TryRemove(key, out var series))
            {
                dropped.Add(series);
            }
        }

        foreach (var entry in _byFastKey)
        {
            if (dropped.Contains(entry.Value))
            {
                _byFastKey.TryRemove(entry);
            }
        }
    }

    private static string KeyOf(Instrument instrument, ReadOnlySpan<KeyValuePair<string, object?>> tags)
    {
        if (tags.Length == 0)
        {
            return instrument.Name;
        }

        var parts = new string[tags.Length];
        for (var i = 0; i < tags.Length; i++)
        {
            parts[i] = tags[i].Key + "=" + Convert.ToString(tags[i].Value, CultureInfo.InvariantCulture);
        }

        Array.Sort(parts, StringComparer.Ordinal);
        return instrument.Name + "|" + string.Join(',', parts);
    }

    [LoggerMessage(Level = LogLevel.Debug, Message = "Stats report failed ({Type}): {Message}")]
    private static partial void LogReportFailed(ILogger logger, string type, string message);

    /// <summary>An instrument and up to four tags in the order given (tag values compared with Equals).</summary>
    private readonly record struct FastKey
    {
        public const int MaxTags = 4;

        public FastKey(Instrument instrument, ReadOnlySpan<KeyValuePair<string, object?>> tags)
        {
            Instrument = instrument;
            Count = tags.Length;
            (K0, V0) = tags.Length > 0 ? (tags[0].Key, tags[0].Value) : (null, null);
            (K1, V1) = tags.Length > 1 ? (tags[1].Key, tags[1].Value) : (null, null);
            (K2, V2) = tags.Length > 2 ? (tags[2].Key, tags[2].Value) : (null, null);
            (K3, V3) = tags.Length > 3 ? (tags[3].Key, tags[3].Value) : (null, null);
        }

        public Instrument Instrument { get; }

        public int Count { get; }

        public string? K0 { get; }

        public object? V0 { get; }

        public string? K1 { get; }

        public object? V1 { get; }

        public string? K2 { get; }

        public object? V2 { get; }

        public string? K3 { get; }

        public object? V3 { get; }
    }

    private sealed class Series
    {
        private readonly Lock _gate = new();
        private readonly LatencyHistogram _window = new();
        private double _total;
        private double _reported;

        private Series(string instrument, string kind, bool observed, IReadOnlyDictionary<string, string> tags, string? unit)
        {
            Instrument = instrument;
            Kind = kind;
            Observed = observed;
            Tags = tags;
            Unit = unit;
        }

        public string Instrument { get; }

        public string Kind { get; }

        public bool Observed { get; }

        public IReadOnlyDictionary<string, string> Tags { get; }

        public string? Unit { get; }

        public long Cycle { get; private set; }

        public static Series For(Instrument instrument, ReadOnlySpan<KeyValuePair<string, object?>> tags)
        {
            var map = new SortedDictionary<string, string>(StringComparer.Ordinal);
            foreach (var tag in tags)
            {
                map[tag.Key] = Convert.ToString(tag.Value, CultureInfo.InvariantCulture) ?? string.Empty;
            }

            var type = instrument.GetType();
            var generic = type.IsGenericType ? type.GetGenericTypeDefinition() : type;
            var kind = generic == typeof(Counter<>) || generic == typeof(ObservableCounter<>) ? MetricKinds.Counter
                : generic == typeof(Histogram<>) ? MetricKinds.Histogram
                : MetricKinds.Gauge;
            return new Series(instrument.Name, kind, instrument.IsObservable, new Dictionary<string, string>(map, StringComparer.Ordinal), instrument.Unit);
        }

        public void Add(double value, long cycle)
        {
            lock (_gate)
            {
                Cycle = cycle;
                if (Kind == MetricKinds.Histogram)
                {
                    _window.Record(value);
                }
                else if (Observed)
                {
                    _total = value;
                }
                else
                {
                    _total += value;
                }
            }
        }

        public MetricSeries Take()
        {
            lock (_gate)
            {
                var delta = _total - _reported;
                _reported = _total;
                var series = new MetricSeries(
                    Instrument,
                    Kind,
                    Tags,
                    _total,
                    Kind == MetricKinds.Counter ? delta : 0,
                    _window.Count,
                    _window.Sum,
                    _window.Max,
                    new Dictionary<int, long>(_window.Buckets),
                    Unit);
                _window.Clear();
                return series;
            }
        }
    }
}
