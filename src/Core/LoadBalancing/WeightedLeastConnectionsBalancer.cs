using System.Collections.Immutable;

namespace Granary.LoadBalancing;

/// <summary>
/// Least connections scaled by capacity: picks the lowest in-flight/weight, compared by
/// cross-multiplication so there is no rounding. A weight-3 member carries three times the
/// concurrent calls of a weight-1 member. Ties rotate.
/// </summary>
public sealed class WeightedLeastConnectionsBalancer : LoadBalancerBase
{
    /// <summary>The strategy name.</summary>
    public const string StrategyName = "weighted-least-connections";

    /// <summary>Creates a balancer with no members.</summary>
    public WeightedLeastConnectionsBalancer()
        : base(StrategyName)
    {
    }

    /// <inheritdoc />
    protected override BalancerMemberState SelectCore(BalancerContext context, ImmutableArray<BalancerMemberState> healthy) =>
        healthy[LeastLoaded.Pick(healthy.AsSpan(), weighted: true, NextRotation())];
}
