using System.Collections.Concurrent;
using System.Diagnostics.Metrics;

namespace Granary.Tests.Cluster.Infrastructure;

/// <summary>
/// Sums a <c>long</c> counter of the in-process silos per value of one of its tags, from the moment it
/// is created (every meter of that name in the process: all silos of an in-process cluster).
/// </summary>
/// <example><code>
/// using var denied = new CounterByTag(SecurityMetrics.MeterName, "granary.security.denied_calls", "method");
/// Assert.True(denied.For("Granary.Caching.ICacheShardGrain.ImportAsync") > 0);
/// </code></example>
public sealed class CounterByTag : IDisposable
{
    private readonly MeterListener _listener = new();
    private readonly ConcurrentDictionary<string, long> _sums = new(StringComparer.Ordinal);

    /// <summary>Starts listening to <paramref name="instrument"/> of <paramref name="meter"/>, summing by <paramref name="tag"/>.</summary>
    public CounterByTag(string meter, string instrument, string tag)
    {
        _listener.InstrumentPublished = (published, listener) =>
        {
            if (published.Meter.Name == meter && published.Name == instrument)
            {
                listener.EnableMeasurementEvents(published);
            }
        };
        _listener.SetMeasurementEventCallback<long>((_, value, tags, _) =>
        {
            foreach (var pair in tags)
            {
                if (pair.Key == tag && pair.Value is string key)
                {
                    _sums.AddOrUpdate(key, value, (_, sum) => sum + value);
                }
            }
        });
        _listener.Start();
    }

    /// <summary>The sum so far for the tag value <paramref name="value"/> (0 when none).</summary>
    public long For(string value) => _sums.GetValueOrDefault(value);

    /// <inheritdoc/>
    public void Dispose() => _listener.Dispose();
}
