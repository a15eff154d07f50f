using Granary.Bench;
using Granary.Bench.Locks;

namespace Granary.Tests.Unit.Bench;

public sealed class BenchRoundsTests
{
    private static readonly BenchSettings Settings = new(Concurrency: 8, Warmup: TimeSpan.FromSeconds(10), Duration: TimeSpan.FromSeconds(60), ShowProgress: false);

    [Fact]
    public void With_several_rounds_the_first_warms_up_for_one_measured_window_more_and_the_others_as_asked()
    {
        var settings = Settings with { Rounds = 5 };

        Assert.Equal(TimeSpan.FromSeconds(70), settings.WarmupFor(1));
        Assert.Equal(TimeSpan.FromSeconds(70), settings.ForRound(1).Warmup);
        Assert.All(Enumerable.Range(2, 4), round => Assert.Equal(TimeSpan.FromSeconds(10), settings.ForRound(round).Warmup));
        Assert.Equal(TimeSpan.FromSeconds(60), settings.ForRound(1).Duration);
        Assert.Equal(TimeSpan.FromSeconds(70 + 60 + (4 * (10 + 60))), settings.RoundsSpan);
    }

    [Fact]
    public void One_round_or_a_window_of_a_fixed_number_of_operations_keeps_the_warm_up_asked_for()
    {
        Assert.Equal(TimeSpan.FromSeconds(10), Settings.WarmupFor(1));
        Assert.Equal(TimeSpan.FromSeconds(10), (Settings with { Rounds = 3, Operations = 20_000 }).WarmupFor(1));
    }

    [Fact]
    public void The_etcd_lease_outlasts_every_round_including_the_longer_first_warm_up()
    {
        var settings = Settings with { Rounds = 3 };

        Assert.Equal(settings.RoundsSpan + TimeSpan.FromMinutes(1), EtcdLockBenchTarget.LeaseTtlFor(settings));
        Assert.True(EtcdLockBenchTarget.LeaseTtlFor(settings) > TimeSpan.FromSeconds(70 + 60 + (2 * (10 + 60))));
    }
}
