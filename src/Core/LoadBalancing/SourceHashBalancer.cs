using System.Collections.Immutable;
using Granary.Hashing;

namespace Granary.LoadBalancing;

/// <summary>
/// Affinity routing: the context key is placed on a <see cref="ConsistentHashRing"/> of the
/// healthy members, so a key sticks to one member (warm caches, session state) and ejecting a
/// member moves only that member's keys. Calls without a key fall back to round robin.
/// </summary>
public sealed class SourceHashBalancer : LoadBalancerBase
{
    /// <summary>The strategy name.</summary>
    public const string StrategyName = "source-hash";

    private volatile RingCache? _cache;

    /// <summary>Creates a balancer with no members.</summary>
    /// <param name="virtualNodesPerWeight">Virtual nodes per unit of weight on the ring.</param>
    public SourceHashBalancer(int virtualNodesPerWeight = ConsistentHashRing.DefaultVirtualNodesPerWeight)
        : base(StrategyName)
    {
        ArgumentOutOfRangeException.ThrowIfLessThan(virtualNodesPerWeight, 1);
        ArgumentOutOfRangeException.ThrowIfGreaterThan(virtualNodesPerWeight, ConsistentHashRing.MaxVirtualNodesPerWeight);
        VirtualNodesPerWeight = virtualNodesPerWeight;
    }

    /// <summary>Virtual nodes per unit of weight on the ring.</summary>
    public int VirtualNodesPerWeight { get; }

    /// <inheritdoc />
    protected override BalancerMemberState SelectCore(BalancerContext context, ImmutableArray<BalancerMemberState> healthy)
    {
        if (context.Key is null)
        {
            return healthy[NextOffset(healthy.Length)];
        }

        // Rebuilt only when membership, weights or health change (a new healthy array).
        // Two threads may both rebuild after a change; they build the same ring.
        var cache = _cache;
        if (cache is null || cache.Healthy != healthy)
        {
            cache = new RingCache(healthy, VirtualNodesPerWeight);
            _cache = cache;
        }

        return cache.ById[cache.Ring.GetNode(context.Key)];
    }

    private sealed class RingCache
    {
        public RingCache(ImmutableArray<BalancerMemberState> healthy, int virtualNodesPerWeight)
        {
            Healthy = healthy;
            Ring = ConsistentHashRing.Create(healthy.Select(m => new RingNode(m.Id, m.Weight)), virtualNodesPerWeight);
            ById = healthy.ToDictionary(m => m.Id, StringComparer.Ordinal);
        }

        public ImmutableArray<BalancerMemberState> Healthy { get; }

        public ConsistentHashRing Ring { get; }

        public Dictionary<string, BalancerMemberState> ById { get; }
    }
}
