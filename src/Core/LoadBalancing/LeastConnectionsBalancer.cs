using System.Collections.Immutable;

namespace Granary.LoadBalancing;

/// <summary>
/// Picks the healthy member with the fewest calls in flight, which adapts to slow members
/// without measuring latency. Ties rotate so idle, equal members share the work evenly.
/// </summary>
public sealed class LeastConnectionsBalancer : LoadBalancerBase
{
    /// <summary>The strategy name.</summary>
    public const string StrategyName = "least-connections";

    /// <summary>Creates a balancer with no members.</summary>
    public LeastConnectionsBalancer()
        : base(StrategyName)
    {
    }

    /// <inheritdoc />
    protected override BalancerMemberState SelectCore(BalancerContext context, ImmutableArray<BalancerMemberState> healthy) =>
        healthy[LeastLoaded.Pick(healthy.AsSpan(), weighted: false, NextRotation())];
}
