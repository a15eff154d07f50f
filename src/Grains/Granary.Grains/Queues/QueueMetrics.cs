using System.Diagnostics.Metrics;
using Granary.Diagnostics;

namespace Granary.Queues;

/// <summary>
/// Gauges of the queue family (meter <c>Granary.Queues</c>) over this silo's active partitions,
/// tagged by queue. One instance per silo (from the silo's <see cref="IMeterFactory"/>).
/// </summary>
public sealed class QueueMetrics
{
    /// <summary>The meter name.</summary>
    public const string MeterName = "Granary.Queues";

    private readonly ActiveSet<(int Ready, int InFlight, int DeadLettered)> _active = new();

    /// <summary>Creates the instruments on the silo's meter factory.</summary>
    public QueueMetrics(IMeterFactory meters)
    {
        ArgumentNullException.ThrowIfNull(meters);
        var meter = meters.Create(MeterName);
        meter.CreateObservableGauge("granary.queues.depth", () => Measure(d => d.Ready), description: "Messages ready or delayed");
        meter.CreateObservableGauge("granary.queues.in_flight", () => Measure(d => d.InFlight), description: "Messages leased to consumers");
        meter.CreateObservableGauge("granary.queues.dead_lettered", () => Measure(d => d.DeadLettered), description: "Messages dead-lettered");
    }

    /// <summary>Counts a partition's depths until <see cref="Untrack"/>.</summary>
    public void Track(object activation, string queue, Func<(int Ready, int InFlight, int DeadLettered)> read) => _active.Add(activation, queue, read);

    /// <summary>Stops counting a partition.</summary>
    public void Untrack(object activation) => _active.Remove(activation);

    private List<Measurement<int>> Measure(Func<(int Ready, int InFlight, int DeadLettered), int> pick) =>
        _active.SumByTag("queue", partitions => partitions.Sum(pick));
}
