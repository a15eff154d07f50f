namespace Granary.Scheduling;

/// <summary>Persisted state of <see cref="DeadLetterGrain"/>.</summary>
[GenerateSerializer, Alias("granary.scheduling.dead-letter-state")]
public sealed class DeadLetterState
{
    /// <summary>Dead-lettered tasks, oldest first.</summary>
    [Id(0)] public List<DeadLetter> Letters { get; set; } = [];
}
