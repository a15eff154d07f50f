using System.Diagnostics.Metrics;
using Granary.Diagnostics;

namespace Granary.Scheduling;

/// <summary>
/// Metrics of the scheduler family (meter <c>Granary.Scheduling</c>), per queue: tasks running on
/// this silo's workers, started workers, and runs finished by outcome. One instance per silo.
/// </summary>
public sealed class SchedulingMetrics
{
    /// <summary>The meter name.</summary>
    public const string MeterName = "Granary.Scheduling";

    private readonly ActiveSet<int> _workers = new();

    /// <summary>Creates the instruments on the silo's meter factory.</summary>
    public SchedulingMetrics(IMeterFactory meters)
    {
        ArgumentNullException.ThrowIfNull(meters);
        var meter = meters.Create(MeterName);
        Runs = meter.CreateCounter<long>("granary.scheduling.runs", description: "Task runs finished by this silo's workers (tag outcome)");
        meter.CreateObservableGauge("granary.scheduling.in_flight", () => _workers.SumByTag("queue", running => running.Sum()), description: "Tasks running on this silo's workers");
        meter.CreateObservableGauge("granary.scheduling.workers", () => _workers.SumByTag("queue", running => running.Count()), description: "Started workers on this silo");
    }

    /// <summary>Runs finished (tags <c>queue</c>, <c>outcome</c> = succeeded or failed).</summary>
    public Counter<long> Runs { get; }

    /// <summary>Counts a started worker until <see cref="Untrack"/>.</summary>
    public void Track(object worker, string queue, Func<int> running) => _workers.Add(worker, queue, running);

    /// <summary>Stops counting a worker.</summary>
    public void Untrack(object worker) => _workers.Remove(worker);
}
