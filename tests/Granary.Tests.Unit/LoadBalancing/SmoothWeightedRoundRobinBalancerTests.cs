using Granary.LoadBalancing;

namespace Granary.Tests.Unit.LoadBalancing;

public sealed class SmoothWeightedRoundRobinBalancerTests
{
    [Fact]
    public void WeightsFiveOneOneGiveTheNginxSequence()
    {
        var lb = new SmoothWeightedRoundRobinBalancer();
        lb.SetMembers([new BalancerMember("a", 5), new BalancerMember("b"), new BalancerMember("c")]);

        string[] cycle = ["a", "a", "b", "a", "c", "a", "a"];
        Assert.Equal([.. cycle, .. cycle, .. cycle], Picks.Many(lb, 21));
    }

    [Fact]
    public void EachCycleMatchesTheWeightsExactly()
    {
        var lb = new SmoothWeightedRoundRobinBalancer();
        lb.SetMembers([new BalancerMember("a", 3), new BalancerMember("b", 2), new BalancerMember("c", 1)]);

        for (var cycle = 0; cycle < 50; cycle++)
        {
            var counts = Picks.Histogram(Picks.Many(lb, 6));
            Assert.Equal(3, counts["a"]);
            Assert.Equal(2, counts["b"]);
            Assert.Equal(1, counts["c"]);
        }
    }

    [Fact]
    public void EqualWeightsRotate()
    {
        var lb = new SmoothWeightedRoundRobinBalancer();
        lb.SetMembers(Picks.Members("a", "b", "c"));
        Assert.Equal(["a", "b", "c", "a", "b", "c"], Picks.Many(lb, 6));
    }

    [Fact]
    public void UnhealthyMemberIsLeftOutAndTheRestKeepTheirRatio()
    {
        var lb = new SmoothWeightedRoundRobinBalancer();
        lb.SetMembers([new BalancerMember("a", 5), new BalancerMember("b"), new BalancerMember("c")]);
        Picks.Many(lb, 3);
        lb.SetHealth("c", false);

        var counts = Picks.Histogram(Picks.Many(lb, 600));
        Assert.False(counts.ContainsKey("c"));
        Assert.InRange(counts["a"], 498, 502);
        Assert.InRange(counts["b"], 98, 102);
    }
}
