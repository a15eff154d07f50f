using System.Diagnostics.Metrics;

namespace Granary.Locks;

/// <summary>Metrics of the lock family (meter <c>Granary.Locks</c>), exportable with OpenTelemetry.</summary>
internal static class LockMetrics
{
    /// <summary>The meter name.</summary>
    public const string MeterName = "Granary.Locks";

    private static readonly Meter Meter = new(MeterName);

    /// <summary>Leases granted (tag <c>handoff</c>: true when granted to a waiter).</summary>
    public static readonly Counter<long> Grants = Meter.CreateCounter<long>("granary.locks.grants", description: "Leases granted");

    /// <summary>Leases released by their holder.</summary>
    public static readonly Counter<long> Releases = Meter.CreateCounter<long>("granary.locks.releases", description: "Leases released");

    /// <summary>Leases that ran out their ttl.</summary>
    public static readonly Counter<long> Expirations = Meter.CreateCounter<long>("granary.locks.expirations", description: "Leases expired");

    /// <summary>Waiters whose wait ran out.</summary>
    public static readonly Counter<long> WaitTimeouts = Meter.CreateCounter<long>("granary.locks.wait_timeouts", description: "Waits that ran out");

    /// <summary>Failed state writes (the activation then deactivates).</summary>
    public static readonly Counter<long> WriteFailures = Meter.CreateCounter<long>("granary.locks.write_failures", description: "Failed lock state writes");

    /// <summary>Records what a table mutation did.</summary>
    public static void Record(LeaseChanges changes)
    {
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
