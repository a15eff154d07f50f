using Granary.Hashing;

namespace Granary.LoadBalancing;

/// <summary>Tuning for <see cref="LoadBalancerFactory"/>; each strategy reads only what applies to it.</summary>
public sealed record LoadBalancerOptions
{
    /// <summary>Seed for the sampling strategies (p2c, ewma); null for non-repeatable shared randomness.</summary>
    public int? Seed { get; init; }

    /// <summary>Weight of the newest latency sample for ewma, in (0, 1].</summary>
    public double LatencySmoothing { get; init; } = LoadBalancerBase.DefaultLatencySmoothing;

    /// <summary>Virtual nodes per unit of weight for source-hash.</summary>
    public int VirtualNodesPerWeight { get; init; } = ConsistentHashRing.DefaultVirtualNodesPerWeight;
}
