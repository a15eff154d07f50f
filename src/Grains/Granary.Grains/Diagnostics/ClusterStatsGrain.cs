namespace Granary.Diagnostics;

/// <summary>
/// Keeps the latest <see cref="SiloStatsSnapshot"/> of each silo in memory. A snapshot older than
/// three of its own windows (at least 10 s) is dropped from answers: its silo has stopped reporting.
/// </summary>
[GrainType("granary.diagnostics.stats")]
public sealed class ClusterStatsGrain(TimeProvider time) : Grain, IClusterStatsGrain
{
    private static readonly TimeSpan MinimumFreshness = TimeSpan.FromSeconds(10);
    private readonly Dictionary<string, SiloStatsSnapshot> _latest = new(StringComparer.Ordinal);

    /// <inheritdoc/>
    public Task ReportAsync(SiloStatsSnapshot snapshot)
    {
        ArgumentNullException.ThrowIfNull(snapshot);
        if (!_latest.TryGetValue(snapshot.Silo, out var previous) || previous.TakenAt <= snapshot.TakenAt)
        {
            _latest[snapshot.Silo] = snapshot;
        }

        // Also here, not only when read: silos that stopped (each restart is a new address) must not
        // pile up when nobody asks for the stats.
        DropStale(time.GetUtcNow());
        return Task.CompletedTask;
    }

    /// <inheritdoc/>
    public Task<ClusterStats> GetAsync()
    {
        var now = time.GetUtcNow();
        DropStale(now);
        return Task.FromResult(new ClusterStats(now, _latest.Values.OrderBy(s => s.Silo, StringComparer.Ordinal).ToList()));
    }

    private void DropStale(DateTimeOffset now)
    {
        foreach (var stale in _latest.Values.Where(s => now - s.TakenAt > Freshness(s)).Select(s => s.Silo).ToList())
        {
            _latest.Remove(stale);
        }
    }

    private static TimeSpan Freshness(SiloStatsSnapshot snapshot)
    {
        var bound = snapshot.Window * 3;
        return bound > MinimumFreshness ? bound : MinimumFreshness;
    }
}
