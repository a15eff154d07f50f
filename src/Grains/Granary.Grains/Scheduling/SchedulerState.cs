namespace Granary.Scheduling;

/// <summary>Persisted state of <see cref="SchedulerGrain"/>: which tasks wait and which are out with a worker.</summary>
[GenerateSerializer, Alias("granary.scheduling.scheduler-state")]
public sealed class SchedulerState
{
    /// <summary>Tasks waiting for dispatch, by id.</summary>
    [Id(0)] public Dictionary<string, QueuedTask> Waiting { get; set; } = new(StringComparer.Ordinal);

    /// <summary>Tasks dispatched and not yet reported back, by id.</summary>
    [Id(1)] public Dictionary<string, InFlightTask> InFlight { get; set; } = new(StringComparer.Ordinal);

    /// <summary>Last dispatch id handed out.</summary>
    [Id(2)] public long LastDispatchId { get; set; }
}

/// <summary>A dispatched task.</summary>
[GenerateSerializer, Alias("granary.scheduling.in-flight")]
public sealed record InFlightTask(
    [property: Id(0)] QueuedTask Task,
    [property: Id(1)] string Worker,
    [property: Id(2)] long DispatchId,
    [property: Id(3)] DateTimeOffset DispatchedAt);
