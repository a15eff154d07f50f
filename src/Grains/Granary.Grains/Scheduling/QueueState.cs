namespace Granary.Scheduling;

/// <summary>Persisted state of <see cref="QueueGrain"/>.</summary>
[GenerateSerializer, Alias("granary.scheduling.queue-state")]
public sealed class QueueState
{
    /// <summary>Balancer name; null until configured (configuration default applies).</summary>
    [Id(0)] public string? Balancer { get; set; }

    /// <summary>Partition count; 0 until configured.</summary>
    [Id(1)] public int Partitions { get; set; }

    /// <summary>
    /// Set once the partition count has been used to place a task; from then on it can only grow.
    /// A queue in use counts as declared (queues used before declarations existed keep working).
    /// </summary>
    [Id(2)] public bool InUse { get; set; }

    /// <summary>Declared (at run time, or by a silo whose configuration lists it): tasks may be submitted to it.</summary>
    [Id(3)] public bool Declared { get; set; }

    /// <summary>Partitions holding work (waiting or running tasks): the ones the keeper keeps active.</summary>
    [Id(4)] public HashSet<int> ActivePartitions { get; set; } = [];

    /// <summary>
    /// False for a queue stored before partitions reported their activity: its first tick wakes
    /// every partition once, and those holding work report it.
    /// </summary>
    [Id(5)] public bool PartitionsTracked { get; set; }

    /// <summary>Task types declared by the queue's workers in applications' processes (never shrinks while the queue exists).</summary>
    [Id(6)] public HashSet<string> TaskTypes { get; set; } = new(StringComparer.Ordinal);
}
