namespace Granary.Locks;

/// <summary>Persisted state of <see cref="FencedResourceGrain"/> (state name <c>lock-fenced-resource</c>).</summary>
[GenerateSerializer, Alias("granary.locks.fenced-resource-state")]
public sealed class FencedResourceState
{
    /// <summary>Current value.</summary>
    [Id(0)]
    public string? Value { get; set; }

    /// <summary>Highest token accepted.</summary>
    [Id(1)]
    public long HighestToken { get; set; }

    /// <summary>Accepted writes.</summary>
    [Id(2)]
    public long Writes { get; set; }

    /// <summary>Refused writes (not persisted on refusal; counted with the next accepted write).</summary>
    [Id(3)]
    public long Rejected { get; set; }
}
