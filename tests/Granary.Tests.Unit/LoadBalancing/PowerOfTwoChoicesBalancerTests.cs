using Granary.LoadBalancing;

namespace Granary.Tests.Unit.LoadBalancing;

public sealed class PowerOfTwoChoicesBalancerTests
{
    [Fact]
    public void NeverPicksTheBusierOfTheTwo()
    {
        // m0..m4 hold 0..4 calls. Each pick compares two distinct members and keeps the idler,
        // so m4 never wins and mK wins exactly the pairs with a busier member: (4-K)/10 of them.
        var lb = new PowerOfTwoChoicesBalancer(new Random(1234));
        lb.SetMembers(Picks.Members("m0", "m1", "m2", "m3", "m4"));
        for (var k = 0; k < 5; k++)
        {
            Picks.Start(lb, $"m{k}", k);
        }

        const int N = 20_000;
        var counts = Picks.Histogram(Picks.Many(lb, N));

        Assert.False(counts.ContainsKey("m4"));
        Assert.InRange(counts["m0"] / (double)N, 0.38, 0.42);
        Assert.InRange(counts["m1"] / (double)N, 0.28, 0.32);
        Assert.InRange(counts["m2"] / (double)N, 0.18, 0.22);
        Assert.InRange(counts["m3"] / (double)N, 0.08, 0.12);
    }

    [Fact]
    public void OfTwoMembersAlwaysPicksTheIdleOne()
    {
        var lb = new PowerOfTwoChoicesBalancer(new Random(7));
        lb.SetMembers(Picks.Members("a", "b"));
        Picks.Start(lb, "a", 3);

        Assert.All(Picks.Many(lb, 200), id => Assert.Equal("b", id));
    }

    [Fact]
    public void DistributesEqualMembers()
    {
        var lb = new PowerOfTwoChoicesBalancer(new Random(99));
        lb.SetMembers(Picks.Members("a", "b", "c", "d"));

        var counts = Picks.Histogram(Picks.Many(lb, 8_000));
        Assert.Equal(4, counts.Count);
        Assert.All(counts.Values, count => Assert.InRange(count, 1_800, 2_200));
    }

    [Fact]
    public void StartingEachPickKeepsLoadLevel()
    {
        var lb = new PowerOfTwoChoicesBalancer(new Random(5));
        lb.SetMembers(Picks.Members("a", "b", "c", "d", "e"));
        for (var i = 0; i < 500; i++)
        {
            lb.OnStart(Picks.Select(lb));
        }

        var inFlight = lb.GetStatus().Select(s => s.InFlight).ToArray();
        Assert.True(inFlight.Max() - inFlight.Min() <= 4, string.Join(",", inFlight));
    }

    [Fact]
    public void SameSeedGivesTheSameSequence()
    {
        var first = new PowerOfTwoChoicesBalancer(new Random(42));
        var second = new PowerOfTwoChoicesBalancer(new Random(42));
        var other = new PowerOfTwoChoicesBalancer(new Random(43));
        foreach (var lb in new[] { first, second, other })
        {
            lb.SetMembers(Picks.Members("a", "b", "c", "d", "e"));
        }

        var sequence = Picks.Many(first, 200);
        Assert.Equal(sequence, Picks.Many(second, 200));
        Assert.NotEqual(sequence, Picks.Many(other, 200));
    }

    [Fact]
    public void SingleMemberIsPicked()
    {
        var lb = new PowerOfTwoChoicesBalancer();
        lb.SetMembers(Picks.Members("only"));
        Picks.Start(lb, "only", 10);
        Assert.Equal("only", lb.Select());
    }
}
