using Granary.LoadBalancing;

namespace Granary.Tests.Unit.LoadBalancing;

public sealed class LeastConnectionsBalancerTests
{
    [Fact]
    public void PicksTheIdleMember()
    {
        var lb = new LeastConnectionsBalancer();
        lb.SetMembers(Picks.Members("a", "b", "c"));
        lb.OnStart("a");
        lb.OnStart("b");

        Assert.All(Picks.Many(lb, 10), id => Assert.Equal("c", id));
    }

    [Fact]
    public void PicksTheFewestInFlight()
    {
        var lb = new LeastConnectionsBalancer();
        lb.SetMembers(Picks.Members("a", "b", "c"));
        Picks.Start(lb, "a", 3);
        Picks.Start(lb, "b", 1);
        Picks.Start(lb, "c", 2);

        Assert.Equal("b", Picks.Select(lb));
        lb.OnComplete("a", TimeSpan.FromMilliseconds(5), success: true);
        lb.OnComplete("a", TimeSpan.FromMilliseconds(5), success: true);
        lb.OnComplete("a", TimeSpan.FromMilliseconds(5), success: true);
        Assert.Equal("a", Picks.Select(lb));
    }

    [Fact]
    public void TiesRotateSoEqualMembersShareEvenly()
    {
        var lb = new LeastConnectionsBalancer();
        lb.SetMembers(Picks.Members("a", "b", "c"));
        Assert.All(Picks.Histogram(Picks.Many(lb, 300)).Values, count => Assert.Equal(100, count));

        // Only the tied members share: a is busy, b and c split the picks evenly.
        lb.OnStart("a");
        var counts = Picks.Histogram(Picks.Many(lb, 200));
        Assert.False(counts.ContainsKey("a"));
        Assert.Equal(100, counts["b"]);
        Assert.Equal(100, counts["c"]);
    }

    [Fact]
    public void StartingEachPickKeepsInFlightLevel()
    {
        var lb = new LeastConnectionsBalancer();
        lb.SetMembers(Picks.Members("a", "b", "c", "d"));
        Picks.Start(lb, "d", 5);

        for (var i = 0; i < 40; i++)
        {
            lb.OnStart(Picks.Select(lb));
        }

        var inFlight = lb.GetStatus().Select(s => s.InFlight).ToArray();
        Assert.Equal(45, inFlight.Sum());
        Assert.True(inFlight.Max() - inFlight.Min() <= 1, string.Join(",", inFlight));
    }
}
