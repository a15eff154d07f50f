using System.Globalization;
using Granary.Hashing;

namespace Granary.Tests.Unit.Hashing;

public sealed class ConsistentHashRingTests
{
    private static readonly string[] FiveIds = ["node-a", "node-b", "node-c", "node-d", "node-e"];

    [Fact]
    public void SameKeyMapsToSameNodeWhateverOrderTheRingWasBuiltIn()
    {
        var forward = ConsistentHashRing.Create(FiveIds);
        var reversed = ConsistentHashRing.Create(FiveIds.Reverse());
        var incremental = new[] { "node-c", "node-a", "node-e", "node-b", "node-d" }
            .Aggregate(ConsistentHashRing.Empty(), (ring, id) => ring.WithNode(new RingNode(id)));

        var mismatches = 0;
        foreach (var key in Keys(20_000))
        {
            var owner = forward.GetNode(key);
            if (owner != reversed.GetNode(key) || owner != incremental.GetNode(key)
                || !forward.GetNodes(key, 3).SequenceEqual(incremental.GetNodes(key, 3)))
            {
                mismatches++;
            }
        }

        Assert.Equal(0, mismatches);
    }

    [Theory]
    [InlineData("user:1", "node-d")]
    [InlineData("user:2", "node-c")]
    [InlineData("user:3", "node-b")]
    [InlineData("user:42", "node-d")]
    [InlineData("order:7", "node-b")]
    [InlineData("tenant:acme", "node-c")]
    public void PlacementIsPinned(string key, string expectedOwner)
    {
        // Pins hash, virtual node naming and ring walk together: a change here moves stored data.
        var ring = ConsistentHashRing.Create(["node-a", "node-b", "node-c", "node-d"]);
        Assert.Equal(expectedOwner, ring.GetNode(key));
        Assert.Equal(expectedOwner, ring.GetNode(StableHash.Hash64(key)));
    }

    [Fact]
    public void GetNodesReturnsDistinctNodesOwnerFirst()
    {
        var ring = ConsistentHashRing.Create(FiveIds);
        foreach (var key in Keys(2_000))
        {
            var three = ring.GetNodes(key, 3);
            Assert.Equal(3, three.Count);
            Assert.Equal(3, three.Distinct(StringComparer.Ordinal).Count());
            Assert.Equal(ring.GetNode(key), three[0]);
            Assert.Equal(three.Take(2), ring.GetNodes(key, 2));
        }
    }

    [Fact]
    public void GetNodesReturnsFewerWhenTheRingIsSmall()
    {
        var ring = ConsistentHashRing.Create(["x", "y", "z"]);
        var all = ring.GetNodes("user:42", 10);
        Assert.Equal(3, all.Count);
        Assert.Equal(["x", "y", "z"], all.Order(StringComparer.Ordinal));
        Assert.Empty(ring.GetNodes("user:42", 0));
        Assert.Empty(ConsistentHashRing.Empty().GetNodes("user:42", 3));
    }

    [Fact]
    public void WeightThreeNodeOwnsAboutThreeTimesTheKeysOfWeightOne()
    {
        var ring = ConsistentHashRing.Create([new RingNode("a", 3), new RingNode("b"), new RingNode("c"), new RingNode("d")]);
        var counts = CountOwners(ring, Keys(200_000));

        var lightMean = (counts["b"] + counts["c"] + counts["d"]) / 3.0;
        var ratio = counts["a"] / lightMean;
        Assert.InRange(ratio, 3 * 0.85, 3 * 1.15);

        var fractions = ring.OwnershipFractions();
        Assert.Equal(1.0, fractions.Values.Sum(), 9);
        Assert.InRange(fractions["a"], 0.5 * 0.85, 0.5 * 1.15);
    }

    [Fact]
    public void AddingANodeMovesOnlyKeysThatNowBelongToIt()
    {
        var ids = Enumerable.Range(0, 10).Select(i => $"node-{i}").ToArray();
        var before = ConsistentHashRing.Create(ids);
        var after = before.WithNode(new RingNode("node-new"));

        var keys = Keys(200_000).ToArray();
        var moved = 0;
        var movedElsewhere = 0;
        foreach (var key in keys)
        {
            var newOwner = after.GetNode(key);
            if (newOwner != before.GetNode(key))
            {
                moved++;
                if (newOwner != "node-new")
                {
                    movedElsewhere++;
                }
            }
        }

        Assert.Equal(0, movedElsewhere);
        var ideal = 1.0 / (ids.Length + 1);
        Assert.InRange((double)moved / keys.Length, ideal / 1.3, ideal * 1.3);
    }

    [Fact]
    public void RemovingANodeMovesOnlyItsKeys()
    {
        var ids = Enumerable.Range(0, 10).Select(i => $"node-{i}").ToArray();
        var before = ConsistentHashRing.Create(ids);
        var after = before.WithoutNode("node-3");

        var keys = Keys(200_000).ToArray();
        var moved = 0;
        var movedFromOthers = 0;
        foreach (var key in keys)
        {
            var oldOwner = before.GetNode(key);
            var newOwner = after.GetNode(key);
            Assert.NotEqual("node-3", newOwner);
            if (newOwner != oldOwner)
            {
                moved++;
                if (oldOwner != "node-3")
                {
                    movedFromOthers++;
                }
            }
        }

        Assert.Equal(0, movedFromOthers);
        var ideal = 1.0 / ids.Length;
        Assert.InRange((double)moved / keys.Length, ideal / 1.3, ideal * 1.3);
    }

    [Fact]
    public void EveryChangeIncreasesTheVersionAndLeavesTheOldSnapshotAlone()
    {
        var empty = ConsistentHashRing.Empty();
        var one = ConsistentHashRing.Create(["a", "b"]);
        var two = one.WithNode(new RingNode("c"));
        var three = two.WithoutNode("a");
        var four = three.WithNode(new RingNode("b", 4));

        Assert.Equal(0, empty.Version);
        Assert.Equal([1L, 2L, 3L, 4L], new[] { one.Version, two.Version, three.Version, four.Version });
        Assert.Equal(44, ConsistentHashRing.Create([new RingNode("a")], version: 43).WithNode(new RingNode("b")).Version);

        Assert.False(one.Contains("c"));
        Assert.True(two.Contains("a"));
        Assert.Equal(2, three.Nodes.Length);
        Assert.Equal(4, four.Nodes.Single(n => n.Id == "b").Weight);
        Assert.Equal(1, three.Nodes.Single(n => n.Id == "b").Weight);
        Assert.Equal(5 * ConsistentHashRing.DefaultVirtualNodesPerWeight, four.VirtualNodeCount);
    }

    [Theory]
    [InlineData(160)]
    [InlineData(1)] // One virtual node per member: a badly balanced ring, so the bound has to work.
    public void BoundedLoadKeepsEveryNodeUnderItsCapacity(int virtualNodes)
    {
        const double C = 1.25;
        var ids = Enumerable.Range(0, 10).Select(i => $"node-{i}").ToArray();
        var ring = ConsistentHashRing.Create(ids, virtualNodes);
        var loads = ids.ToDictionary(id => id, _ => 0L, StringComparer.Ordinal);

        var placed = 0;
        foreach (var key in Keys(20_000))
        {
            var node = ring.GetNodeWithBoundedLoad(key, loads, C);
            loads[node]++;
            placed++;
            Assert.True(
                loads[node] <= Math.Ceiling(C * placed / ids.Length),
                $"{node} holds {loads[node]} of {placed} keys, over ceil({C} * mean).");
        }

        var mean = (double)placed / ids.Length;
        Assert.True(loads.Values.Max() <= Math.Ceiling(C * mean));

        if (virtualNodes == 1)
        {
            // Without the bound this ring is far from even, so the test above was not vacuous.
            var plain = CountOwners(ring, Keys(20_000));
            Assert.True(plain.Values.Max() > C * mean, $"Plain peak {plain.Values.Max()} vs mean {mean}.");
        }
    }

    [Fact]
    public void BoundedLoadOnAnIdleRingIsThePlainOwner()
    {
        var ring = ConsistentHashRing.Create(FiveIds);
        var none = new Dictionary<string, long>();
        foreach (var key in Keys(500))
        {
            Assert.Equal(ring.GetNode(key), ring.GetNodeWithBoundedLoad(key, none));
        }
    }

    [Fact]
    public void BoundedLoadCapacityScalesWithWeight()
    {
        var ring = ConsistentHashRing.Create([new RingNode("a", 2), new RingNode("b")]);
        var loads = new Dictionary<string, long>(StringComparer.Ordinal) { ["a"] = 0, ["b"] = 0 };
        foreach (var key in Keys(9_000))
        {
            loads[ring.GetNodeWithBoundedLoad(key, loads, 1.1)]++;
        }

        Assert.True(loads["a"] <= Math.Ceiling(1.1 * 9_000 * 2 / 3));
        Assert.True(loads["b"] <= Math.Ceiling(1.1 * 9_000 / 3));
    }

    [Fact]
    public void InvalidArgumentsThrow()
    {
        var ring = ConsistentHashRing.Create(FiveIds);

        Assert.Throws<ArgumentException>(() => new RingNode(""));
        Assert.Throws<ArgumentException>(() => new RingNode("   "));
        Assert.Throws<ArgumentNullException>(() => new RingNode(null!));
        Assert.Throws<ArgumentOutOfRangeException>(() => new RingNode("a", 0));
        Assert.Throws<ArgumentOutOfRangeException>(() => ConsistentHashRing.Empty(0));
        Assert.Throws<ArgumentOutOfRangeException>(() => ConsistentHashRing.Create(FiveIds, ConsistentHashRing.MaxVirtualNodesPerWeight + 1));
        Assert.Throws<ArgumentOutOfRangeException>(() => ConsistentHashRing.Create([new RingNode("a")], version: -1));
        Assert.Throws<ArgumentException>(() => ConsistentHashRing.Create(["a", "b", "a"]));
        Assert.Throws<ArgumentNullException>(() => ConsistentHashRing.Create((IEnumerable<string>)null!));
        Assert.Throws<ArgumentOutOfRangeException>(() => ring.GetNodes("k", -1));
        Assert.Throws<ArgumentOutOfRangeException>(() => ring.GetNodeWithBoundedLoad("k", new Dictionary<string, long>(), 0.9));
        Assert.Throws<ArgumentOutOfRangeException>(() => ring.GetNodeWithBoundedLoad("k", new Dictionary<string, long>(), double.NaN));
        Assert.Throws<ArgumentNullException>(() => ring.GetNodeWithBoundedLoad("k", null!));
        Assert.Throws<ArgumentNullException>(() => ring.GetNode((string)null!));
        Assert.Throws<KeyNotFoundException>(() => ring.WithoutNode("missing"));
        Assert.Throws<InvalidOperationException>(() => ConsistentHashRing.Empty().GetNode("k"));
    }

    internal static IEnumerable<string> Keys(int count)
    {
        for (var i = 0; i < count; i++)
        {
            yield return string.Create(CultureInfo.InvariantCulture, $"key-{i}");
        }
    }

    private static Dictionary<string, int> CountOwners(ConsistentHashRing ring, IEnumerable<string> keys)
    {
        var counts = ring.Nodes.ToDictionary(n => n.Id, _ => 0, StringComparer.Ordinal);
        foreach (var key in keys)
        {
            counts[ring.GetNode(key)]++;
        }

        return counts;
    }
}
