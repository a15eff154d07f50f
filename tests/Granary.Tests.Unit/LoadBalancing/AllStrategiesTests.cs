using Granary.LoadBalancing;

namespace Granary.Tests.Unit.LoadBalancing;

/// <summary>Behaviour every strategy must share, run against each one.</summary>
public sealed class AllStrategiesTests
{
    public static TheoryData<string> Strategies => [.. LoadBalancerFactory.Names];

    [Theory]
    [MemberData(nameof(Strategies))]
    public void UnhealthyMembersAreSkipped(string strategy)
    {
        var lb = Create(strategy);
        lb.SetMembers([new BalancerMember("a"), new BalancerMember("b", 3), new BalancerMember("c")]);
        Assert.True(lb.SetHealth("b", false));

        var seen = new HashSet<string>(StringComparer.Ordinal);
        for (var i = 0; i < 300; i++)
        {
            var id = Picks.Select(lb, Picks.Key(i));
            Assert.NotEqual("b", id);
            seen.Add(id);
            lb.OnStart(id);
            if (i % 2 == 0)
            {
                lb.OnComplete(id, TimeSpan.FromMilliseconds(1 + (i % 5)), success: true);
            }
        }

        Assert.Equal(["a", "c"], seen.Order(StringComparer.Ordinal));

        // Back in rotation once healthy again.
        Assert.True(lb.SetHealth("b", true));
        Assert.Contains("b", Picks.Many(lb, 300, Picks.Key));
    }

    [Theory]
    [MemberData(nameof(Strategies))]
    public void NoHealthyMemberGivesNull(string strategy)
    {
        var lb = Create(strategy);
        Assert.Null(lb.Select());
        Assert.Null(lb.Select(new BalancerContext("user:42")));

        lb.SetMembers(Picks.Members("a", "b"));
        lb.SetHealth("a", false);
        lb.SetHealth("b", false);
        Assert.Null(lb.Select());
        Assert.Null(lb.Select(new BalancerContext("user:42")));

        lb.SetMembers([]);
        Assert.Null(lb.Select());
        Assert.False(lb.SetHealth("a", true));
    }

    [Theory]
    [MemberData(nameof(Strategies))]
    public void SetMembersKeepsStateForMembersThatRemain(string strategy)
    {
        var lb = Create(strategy);
        lb.SetMembers(Picks.Members("a", "b", "c"));
        Picks.Start(lb, "a", 3);
        lb.OnComplete("a", TimeSpan.FromMilliseconds(20), success: true);
        lb.SetHealth("c", false);
        Picks.Start(lb, "b", 2);

        lb.SetMembers([new BalancerMember("a", 2), new BalancerMember("c"), new BalancerMember("d")]);

        Assert.Equal(["a", "c", "d"], lb.Members.Select(m => m.Id));
        var a = Picks.Status(lb, "a");
        Assert.Equal(2, a.InFlight);
        Assert.Equal(1, a.Completed);
        Assert.Equal(2, a.Weight);
        Assert.Equal(20.0, a.LatencyEwma!.Value.TotalMilliseconds, 6);
        Assert.False(Picks.Status(lb, "c").Healthy);
        Assert.True(Picks.Status(lb, "d").Healthy);
        Assert.DoesNotContain(lb.GetStatus(), s => s.Id == "b");

        // A member that comes back starts fresh; calls to a removed member are ignored.
        lb.OnComplete("b", TimeSpan.FromMilliseconds(1), success: true);
        lb.SetMembers(Picks.Members("a", "b"));
        Assert.Equal(0, Picks.Status(lb, "b").InFlight);
        Assert.Equal(0, Picks.Status(lb, "b").Completed);
    }

    [Theory]
    [MemberData(nameof(Strategies))]
    public void DuplicateMembersAreRejectedAndTheOldSetKept(string strategy)
    {
        var lb = Create(strategy);
        lb.SetMembers(Picks.Members("a", "b"));

        Assert.Throws<ArgumentException>(() => lb.SetMembers(Picks.Members("a", "c", "a")));
        Assert.Throws<ArgumentNullException>(() => lb.SetMembers(null!));
        Assert.Equal(["a", "b"], lb.Members.Select(m => m.Id));
    }

    [Theory]
    [MemberData(nameof(Strategies))]
    public void InFlightNeverGoesNegative(string strategy)
    {
        var lb = Create(strategy);
        lb.SetMembers(Picks.Members("a"));
        lb.OnComplete("a", TimeSpan.FromMilliseconds(1), success: true);
        lb.OnComplete("a", TimeSpan.FromMilliseconds(-5), success: true);
        lb.OnStart("unknown");
        lb.OnComplete("unknown", TimeSpan.Zero, success: false);

        Assert.Equal(0, Picks.Status(lb, "a").InFlight);
        lb.OnStart("a");
        Assert.Equal(1, Picks.Status(lb, "a").InFlight);
    }

    [Theory]
    [MemberData(nameof(Strategies))]
    public void ConcurrentUseLeavesNothingInFlight(string strategy)
    {
        const int Workers = 8;
        const int Iterations = 10_000;
        var lb = Create(strategy);
        BalancerMember[] members = [new("m0"), new("m1", 2), new("m2"), new("m3", 3)];
        lb.SetMembers(members);
        long selected = 0;
        long failures = 0;

        Parallel.For(0, Workers, new ParallelOptions { MaxDegreeOfParallelism = Workers }, worker =>
        {
            for (var i = 0; i < Iterations; i++)
            {
                // Membership churn that keeps ids (so counts stay comparable): m3 flaps, weights change.
                if (worker == 0 && i % 50 == 0)
                {
                    lb.SetHealth("m3", i % 100 != 0);
                }

                if (worker == 1 && i % 500 == 0)
                {
                    lb.SetMembers([.. members.Select(m => m with { Weight = m.Weight + (i % 1000 == 0 ? 1 : 0) })]);
                }

                var first = lb.Select(Picks.Key(i % 1000)) ?? throw new InvalidOperationException("No member selected.");
                lb.OnStart(first);
                var second = lb.Select(Picks.Key((i + 7) % 1000)) ?? throw new InvalidOperationException("No member selected.");
                lb.OnStart(second);
                Interlocked.Add(ref selected, 2);

                var failed = i % 13 == 0;
                if (failed)
                {
                    Interlocked.Increment(ref failures);
                }

                lb.OnComplete(second, TimeSpan.FromMilliseconds(1 + (i % 7)), success: !failed);
                lb.OnComplete(first, TimeSpan.FromMilliseconds(2 + (i % 5)), success: true);
            }
        });

        var status = lb.GetStatus();
        Assert.All(status, s => Assert.Equal(0, s.InFlight));
        Assert.Equal(Workers * Iterations * 2L, selected);
        Assert.Equal(selected, status.Sum(s => s.Completed));
        Assert.Equal(failures, status.Sum(s => s.Failed));
        Assert.All(status, s => Assert.True(s.Completed > 0, $"{s.Id} was never selected."));
    }

    [Theory]
    [MemberData(nameof(Strategies))]
    public void NameIsTheFactoryName(string strategy) => Assert.Equal(strategy, Create(strategy).Name);

    private static ILoadBalancer Create(string strategy) =>
        LoadBalancerFactory.Create(strategy, new LoadBalancerOptions { Seed = 11 });
}
