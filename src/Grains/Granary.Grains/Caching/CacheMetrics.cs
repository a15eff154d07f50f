using System.Diagnostics.Metrics;

namespace Granary.Caching;

/// <summary>
/// Counters of the cache family (meter <c>Granary.Caching</c>), tagged by cache. One instance per
/// silo (from the silo's <see cref="IMeterFactory"/>).
/// </summary>
public sealed class CacheMetrics
{
    /// <summary>The meter name.</summary>
    public const string MeterName = "Granary.Caching";

    /// <summary>Creates the instruments on the silo's meter factory.</summary>
    public CacheMetrics(IMeterFactory meters)
    {
        ArgumentNullException.ThrowIfNull(meters);
        var meter = meters.Create(MeterName);
        WriteBehindFailedWrites = meter.CreateCounter<long>("granary.caching.write_behind.failed_writes", description: "Write-behind rows whose backing-table write failed and that were queued again");
        WriteBehindRefused = meter.CreateCounter<long>("granary.caching.write_behind.refused", description: "Write-behind writes refused because the shard's queue was full");
        WriteBehindDropped = meter.CreateCounter<long>("granary.caching.write_behind.dropped", description: "Acknowledged write-behind rows given up when a shard deactivated while the backing table kept failing");
        CommandFaults = meter.CreateCounter<long>("granary.caching.command_faults", description: "Commands that failed inside the cache engine and were answered with an internal-error reply");
    }

    /// <summary>Write-behind row writes that failed (each is retried); tag <c>cache</c>.</summary>
    public Counter<long> WriteBehindFailedWrites { get; }

    /// <summary>Write-behind writes refused with <c>RESOURCE_EXHAUSTED</c>; tag <c>cache</c>.</summary>
    public Counter<long> WriteBehindRefused { get; }

    /// <summary>Write-behind rows lost: acknowledged to a writer, never written to the backing table; tag <c>cache</c>.</summary>
    public Counter<long> WriteBehindDropped { get; }

    /// <summary>Commands answered with an internal-error reply; tag <c>cache</c>.</summary>
    public Counter<long> CommandFaults { get; }
}
