using System.Diagnostics.Metrics;
using Granary.Diagnostics;

namespace Granary.Locks;

/// <summary>
/// Metrics of the lock family (meter <c>Granary.Locks</c>), exportable with OpenTelemetry. One
/// instance per silo (created from the silo's <see cref="IMeterFactory"/>, so silos sharing a
/// process keep separate figures).
/// </summary>
public sealed class LockMetrics
{
    /// <summary>The meter name.</summary>
    public const string MeterName = "Granary.Locks";

    // Active lock activations of this silo, read by the gauges.
    private readonly ActiveSet<(int Holders, int Waiters)> _active = new();

    /// <summary>Creates the instruments on the silo's meter factory.</summary>
    public LockMetrics(IMeterFactory meters)
    {
        ArgumentNullException.ThrowIfNull(meters);
        var meter = meters.Create(MeterName);
        Grants = meter.CreateCounter<long>("granary.locks.grants", description: "Leases granted");
        Releases = meter.CreateCounter<long>("granary.locks.releases", description: "Leases released");
        Expirations = meter.CreateCounter<long>("granary.locks.expirations", description: "Leases expired");
        WaitTimeouts = meter.CreateCounter<long>("granary.locks.wait_timeouts", description: "Waits that ran out");
        WriteFailures = meter.CreateCounter<long>("granary.locks.write_failures", description: "Failed lock state writes");
        meter.CreateObservableGauge("granary.locks.holders", () => _active.Sum(x => x.Holders), description: "Leases currently held");
        meter.CreateObservableGauge("granary.locks.waiters", () => _active.Sum(x => x.Waiters), description: "Callers waiting for a lease");
    }

    /// <summary>Leases granted (tag <c>handoff</c>: true when granted to a waiter).</summary>
    public Counter<long> Grants { get; }

    /// <summary>Leases released by their holder.</summary>
    public Counter<long> Releases { get; }

    /// <summary>Leases that ran out their ttl.</summary>
    public Counter<long> Expirations { get; }

    /// <summary>Waiters whose wait ran out.</summary>
    public Counter<long> WaitTimeouts { get; }

    /// <summary>Failed state writes (the activation then deactivates).</summary>
    public Counter<long> WriteFailures { get; }

    /// <summary>Counts an activation's holders and waiters in the gauges until <see cref="Untrack"/>.</summary>
    public void Track(object activation, Func<(int Holders, int Waiters)> read) => _active.Add(activation, null, read);

    /// <summary>Stops counting an activation.</summary>
    public void Untrack(object activation) => _active.Remove(activation);

    /// <summary>Records what a table mutation did.</summary>
    public void Record(LeaseChanges changes)
    {
        ArgumentNullException.ThrowIfNull(changes);
        if (changes.Granted.Count > 0)
        {
            Grants.Add(changes.Granted.Count, new KeyValuePair<string, object?>("handoff", true));
        }

        if (changes.Expired.Count > 0)
        {
            Expirations.Add(changes.Expired.Count);
        }

        if (changes.TimedOut.Count > 0)
        {
            WaitTimeouts.Add(changes.TimedOut.Count);
        }
    }
}
