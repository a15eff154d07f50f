namespace Granary.Queues;

/// <summary>Persisted state of <see cref="QueueGrain"/>: the queue's definition once created.</summary>
[GenerateSerializer, Alias("granary.queues.definition-state")]
public sealed class QueueDefinitionState
{
    /// <summary>Null until the queue is created.</summary>
    [Id(0)]
    public QueueInfo? Info { get; set; }
}
