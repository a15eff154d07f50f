using System.Globalization;

namespace Granary.Hashing;

/// <summary>Load balance and movement figures for a ring over a synthetic key set.</summary>
public sealed record RingAnalysisReport
{
    /// <summary>Members in the analysed ring.</summary>
    public required int Nodes { get; init; }

    /// <summary>Virtual nodes per unit of weight.</summary>
    public required int VirtualNodesPerWeight { get; init; }

    /// <summary>Keys placed.</summary>
    public required int Keys { get; init; }

    /// <summary>Most-loaded member's keys divided by the mean (1.0 is perfect).</summary>
    public required double PeakToMean { get; init; }

    /// <summary>Least-loaded member's keys divided by the mean.</summary>
    public required double MinToMean { get; init; }

    /// <summary>Standard deviation of per-member keys, relative to the mean.</summary>
    public required double RelativeStdDev { get; init; }

    /// <summary>Fraction of keys whose owner changed when one member was added.</summary>
    public required double MovedOnAdd { get; init; }

    /// <summary>The ideal fraction for an add: 1/(n+1).</summary>
    public required double IdealMovedOnAdd { get; init; }

    /// <summary>Keys that moved on add to a member other than the new one (must be 0).</summary>
    public required int MovedOnAddToOldNodes { get; init; }

    /// <summary>Fraction of keys whose owner changed when one member was removed.</summary>
    public required double MovedOnRemove { get; init; }

    /// <summary>The ideal fraction for a removal: 1/n.</summary>
    public required double IdealMovedOnRemove { get; init; }

    /// <summary>Peak-to-mean when keys are placed with bounded loads (c = <see cref="BoundedLoadFactor"/>).</summary>
    public required double BoundedLoadPeakToMean { get; init; }

    /// <summary>The c used for the bounded-load placement.</summary>
    public required double BoundedLoadFactor { get; init; }

    /// <summary>Keys per member in the base ring.</summary>
    public required IReadOnlyDictionary<string, int> KeysPerNode { get; init; }
}

/// <summary>Measures how evenly a ring spreads keys and how many keys move when membership changes.</summary>
public static class RingAnalysis
{
    /// <summary>Largest key count <see cref="Analyze"/> accepts.</summary>
    public const int MaxKeys = 50_000_000;

    /// <summary>
    /// Places <paramref name="keys"/> synthetic keys on a ring of <paramref name="nodes"/> weight-1
    /// members, then adds one member and removes one, counting the keys that change owner.
    /// </summary>
    public static RingAnalysisReport Analyze(int nodes, int virtualNodesPerWeight, int keys, double boundedLoadFactor = 1.25)
    {
        if (nodes < 2)
        {
            throw new ArgumentOutOfRangeException(nameof(nodes), nodes, "At least 2 nodes are needed to analyse removal.");
        }

        if (keys is < 1 or > MaxKeys)
        {
            throw new ArgumentOutOfRangeException(nameof(keys), keys, $"Keys must be between 1 and {MaxKeys}.");
        }

        var ids = Enumerable.Range(0, nodes).Select(i => NodeId(i)).ToArray();
        var ring = ConsistentHashRing.Create(ids, virtualNodesPerWeight);
        var added = ring.WithNode(new RingNode(NodeId(nodes)));
        var removed = ring.WithoutNode(ids[^1]);

        var perNode = new int[nodes];
        var index = ids.Select((id, i) => (id, i)).ToDictionary(x => x.id, x => x.i, StringComparer.Ordinal);
        int movedAdd = 0, movedAddElsewhere = 0, movedRemove = 0;
        var newId = NodeId(nodes);

        // Bounded-load placement is sequential by nature: loads grow as keys arrive.
        var loads = ids.ToDictionary(id => id, _ => 0L, StringComparer.Ordinal);
        var boundedRingTotal = 0L;
        var boundedKeys = Math.Min(keys, 200_000);

        for (var k = 0; k < keys; k++)
        {
            var hash = StableHash.Hash64(KeyName(k));
            var owner = ring.GetNode(hash);
            perNode[index[owner]]++;

            var afterAdd = added.GetNode(hash);
            if (!string.Equals(afterAdd, owner, StringComparison.Ordinal))
            {
                movedAdd++;
                if (!string.Equals(afterAdd, newId, StringComparison.Ordinal))
                {
                    movedAddElsewhere++;
                }
            }

            if (!string.Equals(removed.GetNode(hash), owner, StringComparison.Ordinal))
            {
                movedRemove++;
            }

            if (k < boundedKeys)
            {
                var chosen = ring.GetNodeWithBoundedLoad(KeyName(k), loads, boundedLoadFactor);
                loads[chosen]++;
                boundedRingTotal++;
            }
        }

        var mean = (double)keys / nodes;
        var variance = perNode.Select(c => (c - mean) * (c - mean)).Sum() / nodes;
        var boundedMean = (double)boundedRingTotal / nodes;

        return new RingAnalysisReport
        {
            Nodes = nodes,
            VirtualNodesPerWeight = virtualNodesPerWeight,
            Keys = keys,
            PeakToMean = perNode.Max() / mean,
            MinToMean = perNode.Min() / mean,
            RelativeStdDev = Math.Sqrt(variance) / mean,
            MovedOnAdd = (double)movedAdd / keys,
            IdealMovedOnAdd = 1.0 / (nodes + 1),
            MovedOnAddToOldNodes = movedAddElsewhere,
            MovedOnRemove = (double)movedRemove / keys,
            IdealMovedOnRemove = 1.0 / nodes,
            BoundedLoadPeakToMean = loads.Values.Max() / boundedMean,
            BoundedLoadFactor = boundedLoadFactor,
            KeysPerNode = ids.Select((id, i) => (id, perNode[i])).ToDictionary(x => x.id, x => x.Item2, StringComparer.Ordinal),
        };
    }

    private static string NodeId(int i) => string.Create(CultureInfo.InvariantCulture, $"node-{i}");

    private static string KeyName(int k) => string.Create(CultureInfo.InvariantCulture, $"key-{k}");
}
