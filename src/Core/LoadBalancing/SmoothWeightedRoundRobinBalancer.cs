using System.Collections.Immutable;

namespace Granary.LoadBalancing;

/// <summary>
/// nginx's smooth weighted round robin: each pick adds every healthy member's weight to its
/// running score, takes the highest score and subtracts the total weight from it. Members get
/// traffic in proportion to weight, interleaved rather than in bursts (5,1,1 gives a,a,b,a,c,a,a).
/// </summary>
public sealed class SmoothWeightedRoundRobinBalancer : LoadBalancerBase
{
    /// <summary>The strategy name.</summary>
    public const string StrategyName = "smooth-weighted";

    private readonly Lock _lock = new();

    /// <summary>Creates a balancer with no members.</summary>
    public SmoothWeightedRoundRobinBalancer()
        : base(StrategyName)
    {
    }

    /// <inheritdoc />
    protected override BalancerMemberState SelectCore(BalancerContext context, ImmutableArray<BalancerMemberState> healthy)
    {
        // The running scores of all members change together, so a pick is one critical section.
        lock (_lock)
        {
            long total = 0;
            var best = healthy[0];
            foreach (var member in healthy)
            {
                var weight = member.Weight;
                member.CurrentWeight += weight;
                total += weight;
                if (member.CurrentWeight > best.CurrentWeight)
                {
                    best = member;
                }
            }

            best.CurrentWeight -= total;
            return best;
        }
    }
}
