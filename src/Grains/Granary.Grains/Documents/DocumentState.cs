namespace Granary.Documents;

/// <summary>Persisted state of <see cref="DocumentGrain"/>.</summary>
[GenerateSerializer, Alias("granary.document.state")]
public sealed class DocumentState
{
    /// <summary>The value, null before the first write.</summary>
    [Id(0)]
    public string? Value { get; set; }

    /// <summary>Incremented by every write.</summary>
    [Id(1)]
    public long Version { get; set; }

    /// <summary>Time of the last write.</summary>
    [Id(2)]
    public DateTimeOffset? UpdatedAt { get; set; }
}
