namespace Granary.Hashing;

/// <summary>A member of a <see cref="ConsistentHashRing"/>: an id and a relative weight (1 = one unit).</summary>
public sealed record RingNode
{
    /// <summary>Creates a node; the id must be non-empty and the weight at least 1.</summary>
    public RingNode(string id, int weight = 1)
    {
        ArgumentException.ThrowIfNullOrWhiteSpace(id);
        ArgumentOutOfRangeException.ThrowIfLessThan(weight, 1);
        Id = id;
        Weight = weight;
    }

    /// <summary>The node's identity; virtual points are derived from it, so it must be stable.</summary>
    public string Id { get; }

    /// <summary>Relative capacity: a node of weight 2 gets twice the virtual nodes of weight 1.</summary>
    public int Weight { get; }
}
