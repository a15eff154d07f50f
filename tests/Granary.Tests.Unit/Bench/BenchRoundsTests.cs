using Granary.Bench;
using Granary.Bench.Cpu;
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

    [Fact]
    public void A_silos_idle_rate_is_the_lowest_of_the_last_readings_once_they_stop_falling()
    {
        // A fresh silo compiling: falling readings are not settled, a flat stretch is, at its lowest.
        double[] falling = [0.53, 0.41, 0.30, 0.22, 0.15, 0.09];
        Assert.Null(CpuMeter.Settled(falling, tolerance: 0.03, stable: 5));
        Assert.Null(CpuMeter.Settled([0.05, 0.05], 0.03, 5));
        Assert.Equal(0.04, CpuMeter.Settled([.. falling, 0.06, 0.05, 0.04, 0.06, 0.05], 0.03, 5));

        // One busy second inside the stretch (a timer firing) keeps it unsettled until it leaves it.
        double[] spike = [0.05, 0.05, 0.20, 0.05, 0.05];
        Assert.Null(CpuMeter.Settled(spike, 0.03, 5));
        Assert.Equal(0.05, CpuMeter.Settled([.. spike, 0.05, 0.06, 0.05], 0.03, 5));
    }
}
