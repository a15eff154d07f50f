using Granary.LoadBalancing;

namespace Granary.Tests.Unit.LoadBalancing;

public sealed class WeightedLeastConnectionsBalancerTests
{
    [Fact]
    public void InFlightFollowsTheWeights()
    {
        var lb = new WeightedLeastConnectionsBalancer();
        lb.SetMembers([new BalancerMember("a", 3), new BalancerMember("b")]);

        for (var round = 1; round <= 50; round++)
        {
            for (var i = 0; i < 4; i++)
            {
                lb.OnStart(Picks.Select(lb));
            }

            Assert.Equal(3 * round, Picks.Status(lb, "a").InFlight);
            Assert.Equal(round, Picks.Status(lb, "b").InFlight);
        }
    }

    [Fact]
    public void ComparesInFlightPerWeight()
    {
        var lb = new WeightedLeastConnectionsBalancer();
        lb.SetMembers([new BalancerMember("a", 3), new BalancerMember("b")]);
        Picks.Start(lb, "b", 1);

        Picks.Start(lb, "a", 2);
        Assert.Equal("a", Picks.Select(lb)); // 2/3 < 1/1

        Picks.Start(lb, "a", 2);
        Assert.Equal("b", Picks.Select(lb)); // 4/3 > 1/1
    }

    [Fact]
    public void LargeWeightsDoNotOverflow()
    {
        var lb = new WeightedLeastConnectionsBalancer();
        lb.SetMembers([new BalancerMember("a", int.MaxValue), new BalancerMember("b", int.MaxValue - 1)]);
        Picks.Start(lb, "a", 3);
        Picks.Start(lb, "b", 3);

        Assert.Equal("a", Picks.Select(lb)); // 3/MaxValue < 3/(MaxValue-1)
    }

    [Fact]
    public void TiesRotate()
    {
        var lb = new WeightedLeastConnectionsBalancer();
        lb.SetMembers([new BalancerMember("a", 2), new BalancerMember("b", 2), new BalancerMember("c", 2)]);
        Assert.All(Picks.Histogram(Picks.Many(lb, 300)).Values, count => Assert.Equal(100, count));
    }
}
