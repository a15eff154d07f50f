using System.Collections.Immutable;

namespace Granary.LoadBalancing;

/// <summary>
/// Plain rotation over the healthy members, ignoring weights and load: cheap and fair when
/// members are alike and calls cost about the same.
/// </summary>
public sealed class RoundRobinBalancer : LoadBalancerBase
{
    /// <summary>The strategy name.</summary>
    public const string StrategyName = "round-robin";

    /// <summary>Creates a balancer with no members.</summary>
    public RoundRobinBalancer()
        : base(StrategyName)
    {
    }

    /// <inheritdoc />
    protected override BalancerMemberState SelectCore(BalancerContext context, ImmutableArray<BalancerMemberState> healthy) =>
        healthy[NextOffset(healthy.Length)];
}
