using Granary.LoadBalancing;

namespace Granary.Tests.Unit.LoadBalancing;

public sealed class RoundRobinBalancerTests
{
    [Fact]
    public void RotatesThroughEveryMemberInOrder()
    {
        var lb = new RoundRobinBalancer();
        lb.SetMembers(Picks.Members("a", "b", "c"));

        Assert.Equal(["a", "b", "c", "a", "b", "c", "a", "b", "c"], Picks.Many(lb, 9));
    }

    [Fact]
    public void SpreadsEvenlyAndNeverRepeatsBackToBack()
    {
        var lb = new RoundRobinBalancer();
        lb.SetMembers(Picks.Members("a", "b", "c", "d"));

        var picks = Picks.Many(lb, 4_000);
        Assert.All(Picks.Histogram(picks).Values, count => Assert.Equal(1_000, count));
        Assert.All(picks.Zip(picks.Skip(1)), pair => Assert.NotEqual(pair.First, pair.Second));
    }

    [Fact]
    public void KeepsRotatingOverTheHealthyMembers()
    {
        var lb = new RoundRobinBalancer();
        lb.SetMembers(Picks.Members("a", "b", "c"));
        lb.SetHealth("b", false);

        var picks = Picks.Many(lb, 100);
        Assert.Equal(["a", "c"], picks.Distinct().Order(StringComparer.Ordinal));
        Assert.All(picks.Zip(picks.Skip(1)), pair => Assert.NotEqual(pair.First, pair.Second));
    }

    [Fact]
    public void IgnoresWeights()
    {
        var lb = new RoundRobinBalancer();
        lb.SetMembers([new BalancerMember("a", 5), new BalancerMember("b")]);
        Assert.Equal(50, Picks.Histogram(Picks.Many(lb, 100))["b"]);
    }
}
