using Granary.Security;

namespace Granary.Locks;

/// <summary>
/// A resource protected by fencing tokens: it accepts a write only if its token is at least the
/// highest token it has seen, so a lock holder that paused (GC, network) and lost its lease cannot
/// overwrite the work of the holder that came after it.
/// </summary>
/// <example><code>
/// await grains.GetGrain&lt;IFencedResourceGrain&gt;("orders/42").WriteAsync(lease.Token, "new value");
/// </code></example>
[Requires(Permission.LockUse)]
[Alias("granary.locks.fenced-resource")]
public interface IFencedResourceGrain : IGrainWithStringKey
{
    /// <summary>Writes <paramref name="value"/> if <paramref name="token"/> &gt;= the highest token seen, else <see cref="StaleTokenException"/>.</summary>
    [Alias("write")]
    Task<FencedResourceSnapshot> WriteAsync(long token, string value);

    /// <summary>The current value and the highest token seen.</summary>
    [Alias("read")]
    Task<FencedResourceSnapshot> ReadAsync();
}

/// <summary>A fenced resource's state.</summary>
[GenerateSerializer, Alias("granary.locks.fenced-resource.snapshot")]
public sealed record FencedResourceSnapshot(
    [property: Id(0)] string Key,
    [property: Id(1)] string? Value,
    [property: Id(2)] long HighestToken,
    [property: Id(3)] long Writes,
    [property: Id(4)] long Rejected);
