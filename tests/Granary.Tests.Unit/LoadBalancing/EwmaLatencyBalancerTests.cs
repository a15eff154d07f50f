using Granary.LoadBalancing;

namespace Granary.Tests.Unit.LoadBalancing;

public sealed class EwmaLatencyBalancerTests
{
    [Fact]
    public void PrefersTheFastMemberAfterLatenciesAreReported()
    {
        var lb = new EwmaLatencyBalancer(random: new Random(1));
        lb.SetMembers(Picks.Members("fast", "slow"));
        Picks.ReportLatency(lb, "fast", 10, times: 5);
        Picks.ReportLatency(lb, "slow", 100, times: 5);

        Assert.All(Picks.Many(lb, 200), id => Assert.Equal("fast", id));
    }

    [Fact]
    public void InFlightCallsRaiseTheCost()
    {
        var lb = new EwmaLatencyBalancer(random: new Random(1));
        lb.SetMembers(Picks.Members("fast", "slow"));
        Picks.ReportLatency(lb, "fast", 10);
        Picks.ReportLatency(lb, "slow", 100);

        Picks.Start(lb, "fast", 8);
        Assert.Equal("fast", Picks.Select(lb)); // 10 * 9 < 100

        Picks.Start(lb, "fast", 2);
        Assert.Equal("slow", Picks.Select(lb)); // 10 * 11 > 100
    }

    [Fact]
    public void AMemberWithoutLatencyGetsTried()
    {
        // The new member costs the mean of the measured ones (55 ms): it beats slow, loses to fast.
        var lb = new EwmaLatencyBalancer(random: new Random(3));
        lb.SetMembers(Picks.Members("fast", "slow", "new"));
        Picks.ReportLatency(lb, "fast", 10);
        Picks.ReportLatency(lb, "slow", 100);

        var counts = Picks.Histogram(Picks.Many(lb, 3_000));
        Assert.False(counts.ContainsKey("slow"));
        Assert.InRange(counts["new"], 800, 1_200);
        Assert.InRange(counts["fast"], 1_800, 2_200);
    }

    [Fact]
    public void ReactsWhenAMemberSlowsDown()
    {
        var lb = new EwmaLatencyBalancer(smoothing: 0.5, random: new Random(1));
        lb.SetMembers(Picks.Members("a", "b"));
        Picks.ReportLatency(lb, "a", 10, times: 3);
        Picks.ReportLatency(lb, "b", 40, times: 3);
        Assert.Equal("a", Picks.Select(lb));

        Picks.ReportLatency(lb, "a", 200, times: 3);
        Assert.Equal("b", Picks.Select(lb));
    }

    [Theory]
    [InlineData(1.0, 10.0)]
    [InlineData(0.5, 55.0)]
    [InlineData(0.1, 91.0)]
    public void SmoothingWeighsTheNewestSample(double smoothing, double expectedMs)
    {
        var lb = new EwmaLatencyBalancer(smoothing);
        lb.SetMembers(Picks.Members("a"));
        Assert.Null(Picks.Status(lb, "a").LatencyEwma);

        Picks.ReportLatency(lb, "a", 100);
        Picks.ReportLatency(lb, "a", 10);
        Assert.Equal(expectedMs, Picks.Status(lb, "a").LatencyEwma!.Value.TotalMilliseconds, 6);
    }

    [Fact]
    public void FastFailuresDoNotMakeAMemberLookFast()
    {
        var lb = new EwmaLatencyBalancer(smoothing: 0.5);
        lb.SetMembers(Picks.Members("a"));
        Picks.ReportLatency(lb, "a", 10);

        lb.OnStart("a");
        lb.OnComplete("a", TimeSpan.FromMilliseconds(1), success: false);

        var status = Picks.Status(lb, "a");
        Assert.Equal(15.0, status.LatencyEwma!.Value.TotalMilliseconds, 6); // sample counted as 2 * 10 ms
        Assert.Equal(1, status.Failed);
        Assert.Equal(2, status.Completed);
    }

    [Theory]
    [InlineData(0.0)]
    [InlineData(-0.1)]
    [InlineData(1.5)]
    [InlineData(double.NaN)]
    public void InvalidSmoothingThrows(double smoothing) =>
        Assert.Throws<ArgumentOutOfRangeException>(() => new EwmaLatencyBalancer(smoothing));
}
