namespace Granary.Queues;

/// <summary>Persisted state of <see cref="ExchangeGrain"/>.</summary>
[GenerateSerializer, Alias("granary.queues.exchange-state")]
public sealed class ExchangeState
{
    /// <summary>Null until declared.</summary>
    [Id(0)]
    public ExchangeKind? Kind { get; set; }

    /// <summary>Bindings in the order they were made.</summary>
    [Id(1)]
    public List<ExchangeBinding> Bindings { get; set; } = [];
}
