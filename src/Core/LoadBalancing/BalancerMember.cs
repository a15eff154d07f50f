namespace Granary.LoadBalancing;

/// <summary>
/// A target a <see cref="ILoadBalancer"/> can pick: a stable id and a relative weight
/// (weight 2 should take about twice the traffic of weight 1 in weight-aware strategies).
/// </summary>
public sealed record BalancerMember
{
    /// <summary>Creates a member; the id must be non-empty and the weight at least 1.</summary>
    public BalancerMember(string id, int weight = 1)
    {
        Id = id;
        Weight = weight;
    }

    /// <summary>The member's identity; balancers keep per-member state under it.</summary>
    public string Id
    {
        get;
        init
        {
            ArgumentException.ThrowIfNullOrWhiteSpace(value, nameof(Id));
            field = value;
        }
    }

    /// <summary>Relative capacity, at least 1. Strategies that ignore weights treat every member alike.</summary>
    public int Weight
    {
        get;
        init
        {
            ArgumentOutOfRangeException.ThrowIfLessThan(value, 1, nameof(Weight));
            field = value;
        }
    }
}
