using Granary.Security;

namespace Granary.Diagnostics;

/// <summary>
/// Reaches every storage shard of the silo that serves the call, each time it is asked (one cheap
/// query per shard, in parallel, each bounded): what the <c>granary-shards</c> health check reads.
/// A stateless worker: any silo answers, from its own connections.
/// </summary>
/// <example><code>
/// var health = await grains.GetGrain&lt;IStorageHealthGrain&gt;(0).ProbeAsync(TimeSpan.FromSeconds(2), ct);
/// foreach (var shard in health.Shards.Where(s => !s.Reachable)) Console.WriteLine($"{shard.Shard}: {shard.Error}");
/// </code></example>
[Requires(Permission.ClusterRead)]
[Alias("granary.diagnostics.storage-health")]
public interface IStorageHealthGrain : IGrainWithIntegerKey
{
    /// <summary>
    /// Probes every shard now, each within <paramref name="timeout"/> (at most 30 s); a shard that
    /// fails or does not answer in time is reported unreachable with the reason.
    /// </summary>
    [Alias("probe")]
    Task<StorageHealth> ProbeAsync(TimeSpan timeout, CancellationToken cancellationToken = default);
}

/// <summary>The outcome of one probe of every shard.</summary>
/// <param name="Mode">The storage mode (<c>Memory</c> has no shards to reach).</param>
/// <param name="Shards">One entry per shard, in shard order.</param>
[GenerateSerializer, Alias("granary.diagnostics.storage-health-report")]
public sealed record StorageHealth(
    [property: Id(0)] string Mode,
    [property: Id(1)] IReadOnlyList<ShardHealth> Shards);

/// <summary>One shard's answer to a probe.</summary>
/// <param name="Shard">The shard's name (<c>shard-0</c>, ...).</param>
/// <param name="Reachable">The probe query answered in time.</param>
/// <param name="Elapsed">How long it took (or until it was given up).</param>
/// <param name="Error">Why it is unreachable; null when reachable.</param>
[GenerateSerializer, Alias("granary.diagnostics.shard-health")]
public sealed record ShardHealth(
    [property: Id(0)] string Shard,
    [property: Id(1)] bool Reachable,
    [property: Id(2)] TimeSpan Elapsed,
    [property: Id(3)] string? Error);
