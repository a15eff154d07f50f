using System.Collections.Immutable;
using System.Globalization;

namespace Granary.Hashing;

/// <summary>
/// An immutable, versioned consistent-hash ring with weighted virtual nodes.
/// Every change returns a new snapshot with a higher <see cref="Version"/>, so readers never
/// see a half-built ring and a client can tell whether its copy is current.
/// </summary>
/// <example><code>
/// var ring = ConsistentHashRing.Create([new("db-0"), new("db-1"), new("db-2")]);
/// string owner = ring.GetNode("user:42");
/// var replicas = ring.GetNodes("user:42", 2);   // two distinct nodes
/// </code></example>
public sealed class ConsistentHashRing
{
    /// <summary>Virtual nodes per unit of weight unless told otherwise.</summary>
    public const int DefaultVirtualNodesPerWeight = 160;

    /// <summary>Upper bound on virtual nodes per unit of weight, to keep rings a sane size.</summary>
    public const int MaxVirtualNodesPerWeight = 10_000;

    // Sorted by point; _owners[i] indexes Nodes for the virtual node at _points[i].
    private readonly ulong[] _points;
    private readonly int[] _owners;
    private readonly ImmutableDictionary<string, int> _indexById;

    private ConsistentHashRing(ImmutableArray<RingNode> nodes, int virtualNodesPerWeight, long version)
    {
        Nodes = nodes;
        VirtualNodesPerWeight = virtualNodesPerWeight;
        Version = version;
        TotalWeight = nodes.Sum(n => (long)n.Weight);

        var builder = ImmutableDictionary.CreateBuilder<string, int>(StringComparer.Ordinal);
        for (var i = 0; i < nodes.Length; i++)
        {
            if (!builder.TryAdd(nodes[i].Id, i))
            {
                throw new ArgumentException($"Node '{nodes[i].Id}' appears twice in the ring.", nameof(nodes));
            }
        }

        _indexById = builder.ToImmutable();

        var count = checked((int)(TotalWeight * virtualNodesPerWeight));
        var entries = new (ulong Point, string Id, int Owner)[count];
        var k = 0;
        for (var i = 0; i < nodes.Length; i++)
        {
            var vnodes = nodes[i].Weight * virtualNodesPerWeight;
            for (var v = 0; v < vnodes; v++)
            {
                entries[k++] = (VirtualPoint(nodes[i].Id, v), nodes[i].Id, i);
            }
        }

        // Ties on the point (astronomically rare) are broken by id so every process agrees.
        Array.Sort(entries, static (a, b) =>
        {
            var c = a.Point.CompareTo(b.Point);
            return c != 0 ? c : string.CompareOrdinal(a.Id, b.Id);
        });

        _points = new ulong[count];
        _owners = new int[count];
        for (var i = 0; i < count; i++)
        {
            _points[i] = entries[i].Point;
            _owners[i] = entries[i].Owner;
        }
    }

    /// <summary>The members, in the order they were added.</summary>
    public ImmutableArray<RingNode> Nodes { get; }

    /// <summary>Virtual nodes per unit of weight.</summary>
    public int VirtualNodesPerWeight { get; }

    /// <summary>Snapshot version; every change increments it.</summary>
    public long Version { get; }

    /// <summary>Sum of the members' weights.</summary>
    public long TotalWeight { get; }

    /// <summary>Number of virtual nodes on the ring.</summary>
    public int VirtualNodeCount => _points.Length;

    /// <summary>True when the ring has no members.</summary>
    public bool IsEmpty => Nodes.IsEmpty;

    /// <summary>An empty ring (version 0).</summary>
    public static ConsistentHashRing Empty(int virtualNodesPerWeight = DefaultVirtualNodesPerWeight)
    {
        ValidateVirtualNodes(virtualNodesPerWeight);
        return new ConsistentHashRing([], virtualNodesPerWeight, 0);
    }

    /// <summary>Builds a ring from a set of members.</summary>
    public static ConsistentHashRing Create(
        IEnumerable<RingNode> nodes,
        int virtualNodesPerWeight = DefaultVirtualNodesPerWeight,
        long version = 1)
    {
        ArgumentNullException.ThrowIfNull(nodes);
        ValidateVirtualNodes(virtualNodesPerWeight);
        ArgumentOutOfRangeException.ThrowIfNegative(version);
        return new ConsistentHashRing([.. nodes], virtualNodesPerWeight, version);
    }

    /// <summary>Builds a ring of weight-1 members named by <paramref name="ids"/>.</summary>
    public static ConsistentHashRing Create(IEnumerable<string> ids, int virtualNodesPerWeight = DefaultVirtualNodesPerWeight)
    {
        ArgumentNullException.ThrowIfNull(ids);
        return Create(ids.Select(id => new RingNode(id)), virtualNodesPerWeight);
    }

    /// <summary>True when a member with this id is on the ring.</summary>
    public bool Contains(string nodeId) => _indexById.ContainsKey(nodeId);

    /// <summary>A new snapshot with <paramref name="node"/> added (or its weight replaced).</summary>
    public ConsistentHashRing WithNode(RingNode node)
    {
        ArgumentNullException.ThrowIfNull(node);
        var nodes = _indexById.TryGetValue(node.Id, out var i) ? Nodes.SetItem(i, node) : Nodes.Add(node);
        return new ConsistentHashRing(nodes, VirtualNodesPerWeight, Version + 1);
    }

    /// <summary>A new snapshot with the member <paramref name="nodeId"/> removed.</summary>
    /// <exception cref="KeyNotFoundException">No member has that id.</exception>
    public ConsistentHashRing WithoutNode(string nodeId)
    {
        if (!_indexById.TryGetValue(nodeId, out var i))
        {
            throw new KeyNotFoundException($"Node '{nodeId}' is not on the ring.");
        }

        return new ConsistentHashRing(Nodes.RemoveAt(i), VirtualNodesPerWeight, Version + 1);
    }

    /// <summary>The member that owns <paramref name="key"/>.</summary>
    public string GetNode(string key) => GetNode(StableHash.Hash64(key));

    /// <summary>The member that owns a key with this stable hash: the first virtual node clockwise.</summary>
    public string GetNode(ulong keyHash) => Nodes[_owners[FirstIndexAtOrAfter(keyHash)]].Id;

    /// <summary>The index in <see cref="Nodes"/> of the member that owns this stable hash (no string lookup).</summary>
    public int GetNodeIndex(ulong keyHash) => _owners[FirstIndexAtOrAfter(keyHash)];

    /// <summary>
    /// Up to <paramref name="count"/> distinct members for <paramref name="key"/>, owner first,
    /// walking clockwise (replica placement). Returns fewer when the ring has fewer members.
    /// </summary>
    public IReadOnlyList<string> GetNodes(string key, int count) => GetNodes(StableHash.Hash64(key), count);

    /// <inheritdoc cref="GetNodes(string, int)"/>
    public IReadOnlyList<string> GetNodes(ulong keyHash, int count)
    {
        ArgumentOutOfRangeException.ThrowIfNegative(count);
        var wanted = Math.Min(count, Nodes.Length);
        var result = new List<string>(wanted);
        if (wanted == 0)
        {
            return result;
        }

        Span<bool> seen = Nodes.Length <= 256 ? stackalloc bool[Nodes.Length] : new bool[Nodes.Length];
        var start = FirstIndexAtOrAfter(keyHash);
        for (var step = 0; step < _points.Length && result.Count < wanted; step++)
        {
            var owner = _owners[(start + step) % _points.Length];
            if (!seen[owner])
            {
                seen[owner] = true;
                result.Add(Nodes[owner].Id);
            }
        }

        return result;
    }

    /// <summary>
    /// Consistent hashing with bounded loads (Mirrokni, Thorup, Zadimoghaddam 2018): walk clockwise
    /// from the key and take the first member whose load is below its capacity
    /// <c>ceil(c * (totalLoad + 1) * weight / totalWeight)</c>, so no member exceeds c times its
    /// fair share. <paramref name="loads"/> holds current loads by member id (missing = 0).
    /// </summary>
    public string GetNodeWithBoundedLoad(string key, IReadOnlyDictionary<string, long> loads, double balanceFactor = 1.25)
    {
        ArgumentNullException.ThrowIfNull(loads);
        if (double.IsNaN(balanceFactor) || balanceFactor < 1.0)
        {
            throw new ArgumentOutOfRangeException(nameof(balanceFactor), balanceFactor, "The balance factor c must be >= 1.");
        }

        EnsureNotEmpty();
        long total = 0;
        foreach (var node in Nodes)
        {
            total += loads.TryGetValue(node.Id, out var l) ? l : 0;
        }

        var start = FirstIndexAtOrAfter(StableHash.Hash64(key));
        for (var step = 0; step < _points.Length; step++)
        {
            var node = Nodes[_owners[(start + step) % _points.Length]];
            var load = loads.TryGetValue(node.Id, out var l) ? l : 0;
            if (load < Capacity(node, total, balanceFactor))
            {
                return node.Id;
            }
        }

        // Unreachable: capacities sum to at least total + 1, so some member has room.
        return GetNode(key);
    }

    /// <summary>The capacity of <paramref name="node"/> under bounded loads when <paramref name="totalLoad"/> items are placed.</summary>
    public long Capacity(RingNode node, long totalLoad, double balanceFactor)
    {
        ArgumentNullException.ThrowIfNull(node);
        return (long)Math.Ceiling(balanceFactor * (totalLoad + 1) * node.Weight / TotalWeight);
    }

    /// <summary>The fraction of the hash space each member owns (sums to 1).</summary>
    public IReadOnlyDictionary<string, double> OwnershipFractions()
    {
        var owned = new double[Nodes.Length];
        for (var i = 0; i < _points.Length; i++)
        {
            var prev = i == 0 ? _points[^1] : _points[i - 1];
            // The arc (prev, point] belongs to this virtual node; unchecked wrap handles index 0.
            var arc = unchecked(_points[i] - prev);
            owned[_owners[i]] += _points.Length == 1 ? 1.0 : arc / 18446744073709551616.0;
        }

        return Nodes.Select((n, i) => (n.Id, owned[i])).ToDictionary(x => x.Id, x => x.Item2, StringComparer.Ordinal);
    }

    private static ulong VirtualPoint(string nodeId, int index) =>
        StableHash.Hash64(string.Create(CultureInfo.InvariantCulture, $"{nodeId}#{index}"));

    private static void ValidateVirtualNodes(int virtualNodesPerWeight)
    {
        if (virtualNodesPerWeight is < 1 or > MaxVirtualNodesPerWeight)
        {
            throw new ArgumentOutOfRangeException(
                nameof(virtualNodesPerWeight),
                virtualNodesPerWeight,
                $"Virtual nodes per weight must be between 1 and {MaxVirtualNodesPerWeight}.");
        }
    }

    private void EnsureNotEmpty()
    {
        if (IsEmpty)
        {
            throw new InvalidOperationException("The ring has no nodes.");
        }
    }

    private int FirstIndexAtOrAfter(ulong hash)
    {
        EnsureNotEmpty();
        var i = Array.BinarySearch(_points, hash);
        if (i < 0)
        {
            i = ~i;
        }
        else
        {
            // Equal points: take the first of the run so ties resolve the same way everywhere.
            while (i > 0 && _points[i - 1] == hash)
            {
                i--;
            }
        }

        return i == _points.Length ? 0 : i;
    }
}
