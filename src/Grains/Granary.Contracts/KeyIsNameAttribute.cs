namespace Granary;

/// <summary>
/// Marks a grain class whose string key is a name a caller chose (a lock, a cache, a queue, an
/// account, a task id...). The silo checks the key of every call to such a grain against the name
/// rule (<see cref="Errors.Guard.Name"/>: not blank, at most <see cref="MaxLength"/> characters,
/// storable text) before the grain method runs, and refuses a bad one with
/// <see cref="Errors.InvalidRequestException"/> naming <see cref="Parameter"/>. Every other
/// Granary grain key must be storable text of at most <see cref="Limits.MaxGrainKeyLength"/>.
/// </summary>
/// <example><code>
/// [KeyIsName("account")]
/// public sealed class AccountGrain : Grain, IAccountGrain { ... }
/// </code></example>
[AttributeUsage(AttributeTargets.Class, Inherited = false)]
public sealed class KeyIsNameAttribute(string parameter) : Attribute
{
    /// <summary>The name errors are reported under (e.g. <c>account</c>).</summary>
    public string Parameter { get; } = parameter;

    /// <summary>Longest key, in characters. Default <see cref="Limits.MaxKeyLength"/>.</summary>
    public int MaxLength { get; set; } = Limits.MaxKeyLength;
}
