namespace Granary.Scheduling;

/// <summary>Persisted state of <see cref="QueueGrain"/>.</summary>
[GenerateSerializer, Alias("granary.scheduling.queue-state")]
public sealed class QueueState
{
    /// <summary>Balancer name; null until configured (configuration default applies).</summary>
    [Id(0)] public string? Balancer { get; set; }

    /// <summary>Partition count; 0 until configured.</summary>
    [Id(1)] public int Partitions { get; set; }

    /// <summary>Set once the partition count has been used to place a task; from then on it can only grow.</summary>
    [Id(2)] public bool InUse { get; set; }
}
