namespace Granary.Scheduling;

/// <summary>Persisted state of <see cref="TaskGrain"/>: the task's durable record.</summary>
[GenerateSerializer, Alias("granary.scheduling.task-state-record")]
public sealed class TaskGrainState : ITaskRecord
{
    /// <summary>False until the first submission is stored.</summary>
    [Id(0)] public bool Submitted { get; set; }

    /// <summary>Task type.</summary>
    [Id(1)] public string Type { get; set; } = string.Empty;

    /// <summary>Arguments JSON (canonical).</summary>
    [Id(2)] public string Args { get; set; } = "[]";

    /// <summary>Queue.</summary>
    [Id(3)] public string Queue { get; set; } = SchedulingOptions.DefaultQueue;

    /// <summary>Scheduler partition key (<c>queue/p</c>).</summary>
    [Id(4)] public string Scheduler { get; set; } = string.Empty;

    /// <summary>Priority 0..9.</summary>
    [Id(5)] public int Priority { get; set; }

    /// <summary>Affinity key.</summary>
    [Id(6)] public string? Key { get; set; }

    /// <summary>Submission time.</summary>
    [Id(7)] public DateTimeOffset CreatedAt { get; set; }

    /// <inheritdoc/>
    [Id(8)] public TaskState State { get; set; }

    /// <inheritdoc/>
    [Id(9)] public DateTimeOffset? Eta { get; set; }

    /// <inheritdoc/>
    [Id(10)] public int Attempts { get; set; }

    /// <inheritdoc/>
    [Id(11)] public int Retries { get; set; }

    /// <inheritdoc/>
    [Id(12)] public int Redeliveries { get; set; }

    /// <inheritdoc/>
    [Id(13)] public int MaxRetries { get; set; }

    /// <inheritdoc/>
    [Id(14)] public long BackoffBaseMs { get; set; }

    /// <inheritdoc/>
    [Id(15)] public long BackoffCapMs { get; set; }

    /// <inheritdoc/>
    [Id(16)] public long TimeLimitMs { get; set; }

    /// <inheritdoc/>
    [Id(17)] public string? LeaseId { get; set; }

    /// <inheritdoc/>
    [Id(18)] public string? Worker { get; set; }

    /// <inheritdoc/>
    [Id(19)] public DateTimeOffset? StartedAt { get; set; }

    /// <inheritdoc/>
    [Id(20)] public DateTimeOffset? FinishedAt { get; set; }

    /// <inheritdoc/>
    [Id(21)] public string? Result { get; set; }

    /// <inheritdoc/>
    [Id(22)] public string? Error { get; set; }

    /// <summary>Group or chord.</summary>
    [Id(23)] public string? WorkflowId { get; set; }

    /// <summary>Position in the group.</summary>
    [Id(24)] public int WorkflowIndex { get; set; }

    /// <summary>Rest of the chain.</summary>
    [Id(25)] public List<TaskSubmission>? Then { get; set; }
}
