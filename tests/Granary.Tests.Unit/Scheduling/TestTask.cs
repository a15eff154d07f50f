using Granary.Scheduling;

namespace Granary.Tests.Unit.Scheduling;

/// <summary>A plain <see cref="ITaskRecord"/> for lifecycle tests.</summary>
internal sealed class TestTask : ITaskRecord
{
    public TaskState State { get; set; }

    public DateTimeOffset? Eta { get; set; }

    public int Attempts { get; set; }

    public int Retries { get; set; }

    public int Redeliveries { get; set; }

    public int MaxRetries { get; set; } = 3;

    public long BackoffBaseMs { get; set; } = 1000;

    public long BackoffCapMs { get; set; } = 8000;

    public long TimeLimitMs { get; set; } = 5000;

    public string? LeaseId { get; set; }

    public string? Worker { get; set; }

    public DateTimeOffset? StartedAt { get; set; }

    public DateTimeOffset? FinishedAt { get; set; }

    public string? Result { get; set; }

    public string? Error { get; set; }
}
