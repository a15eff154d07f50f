using Granary.Hashing;
using Granary.LoadBalancing;

namespace Granary.Tests.Unit.LoadBalancing;

public sealed class SourceHashBalancerTests
{
    private const int KeyCount = 5_000;

    [Fact]
    public void SameKeyGoesToTheSameMember()
    {
        var lb = new SourceHashBalancer();
        lb.SetMembers(Picks.Members("a", "b", "c", "d"));
        var first = Picks.Select(lb, new BalancerContext("user:42"));

        Assert.All(Picks.Many(lb, 100, _ => new BalancerContext("user:42")), id => Assert.Equal(first, id));
    }

    [Fact]
    public void PlacementMatchesTheRingAndIgnoresMemberOrder()
    {
        BalancerMember[] members = [new("a"), new("b", 2), new("c"), new("d")];
        var lb = new SourceHashBalancer();
        lb.SetMembers(members);
        var reordered = new SourceHashBalancer();
        reordered.SetMembers([.. members.Reverse()]);
        var ring = ConsistentHashRing.Create(members.Select(m => new RingNode(m.Id, m.Weight)));

        for (var i = 0; i < KeyCount; i++)
        {
            var key = Picks.Key(i);
            var expected = ring.GetNode(key.Key!);
            Assert.Equal(expected, lb.Select(key));
            Assert.Equal(expected, reordered.Select(key));
        }
    }

    [Fact]
    public void KeysSpreadOverAllMembers()
    {
        var lb = new SourceHashBalancer();
        lb.SetMembers(Picks.Members("a", "b", "c"));
        var counts = Picks.Histogram(Picks.Many(lb, KeyCount, Picks.Key));

        Assert.Equal(3, counts.Count);
        Assert.All(counts.Values, count => Assert.InRange(count, KeyCount / 4, KeyCount / 2));
    }

    [Fact]
    public void EjectingAMemberMovesOnlyItsKeysAndRestoringBringsThemBack()
    {
        var lb = new SourceHashBalancer();
        lb.SetMembers(Picks.Members("a", "b", "c", "d", "e"));
        var before = Picks.Many(lb, KeyCount, Picks.Key);

        lb.SetHealth("c", false);
        var during = Picks.Many(lb, KeyCount, Picks.Key);

        var moved = 0;
        for (var i = 0; i < KeyCount; i++)
        {
            Assert.NotEqual("c", during[i]);
            if (before[i] != "c")
            {
                Assert.Equal(before[i], during[i]);
            }
            else
            {
                moved++;
            }
        }

        Assert.InRange(moved, KeyCount / 10, KeyCount * 3 / 10); // about a fifth

        lb.SetHealth("c", true);
        Assert.Equal(before, Picks.Many(lb, KeyCount, Picks.Key));
    }

    [Fact]
    public void RemovingAMemberMovesOnlyItsKeys()
    {
        var lb = new SourceHashBalancer();
        lb.SetMembers(Picks.Members("a", "b", "c", "d"));
        var before = Picks.Many(lb, KeyCount, Picks.Key);

        lb.SetMembers(Picks.Members("a", "b", "d"));
        var after = Picks.Many(lb, KeyCount, Picks.Key);

        for (var i = 0; i < KeyCount; i++)
        {
            if (before[i] != "c")
            {
                Assert.Equal(before[i], after[i]);
            }
        }
    }

    [Fact]
    public void WithoutAKeyItRotates()
    {
        var lb = new SourceHashBalancer();
        lb.SetMembers(Picks.Members("a", "b", "c"));
        Assert.Equal(["a", "b", "c", "a", "b", "c"], Picks.Many(lb, 6));
    }

    [Fact]
    public void InvalidVirtualNodeCountThrows()
    {
        Assert.Throws<ArgumentOutOfRangeException>(() => new SourceHashBalancer(0));
        Assert.Throws<ArgumentOutOfRangeException>(() => new SourceHashBalancer(ConsistentHashRing.MaxVirtualNodesPerWeight + 1));
    }
}
