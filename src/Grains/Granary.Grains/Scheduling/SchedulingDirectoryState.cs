namespace Granary.Scheduling;

/// <summary>Persisted state of <see cref="SchedulingDirectoryGrain"/>.</summary>
[GenerateSerializer, Alias("granary.scheduling.directory-state")]
public sealed class SchedulingDirectoryState
{
    /// <summary>Declared queues (and queues whose partitions still hold work).</summary>
    [Id(0)] public HashSet<string> Queues { get; set; } = new(StringComparer.Ordinal);

    /// <summary>Active periodic tasks.</summary>
    [Id(1)] public HashSet<string> Periodics { get; set; } = new(StringComparer.Ordinal);
}
