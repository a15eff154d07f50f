namespace Granary.Scheduling;

/// <summary>Persisted state of <see cref="PeriodicTaskGrain"/>.</summary>
[GenerateSerializer, Alias("granary.scheduling.periodic-state")]
public sealed class PeriodicTaskState
{
    /// <summary>Cron expression.</summary>
    [Id(0)] public string? Cron { get; set; }

    /// <summary>What each firing submits.</summary>
    [Id(1)] public TaskSubmission? Template { get; set; }

    /// <summary>The last tick fired; stored before the task is submitted.</summary>
    [Id(2)] public DateTimeOffset? LastFiredTick { get; set; }

    /// <summary>When the schedule was created (first tick is after it).</summary>
    [Id(3)] public DateTimeOffset CreatedAt { get; set; }

    /// <summary>Ticks fired.</summary>
    [Id(4)] public long Fired { get; set; }

    /// <summary>False once removed.</summary>
    [Id(5)] public bool Enabled { get; set; }
}
