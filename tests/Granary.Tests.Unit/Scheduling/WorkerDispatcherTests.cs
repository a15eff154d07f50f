using Granary.Scheduling;

namespace Granary.Tests.Unit.Scheduling;

public sealed class WorkerDispatcherTests
{
    [Fact]
    public void Smooth_weighted_splits_5_1_1()
    {
        var d = new WorkerDispatcher("smooth-weighted");
        d.SetWorkers([new("a", 5, 1000), new("b", 1, 1000), new("c", 1, 1000)]);

        var picks = Enumerable.Range(0, 700).Select(_ => d.Pick(null)!).ToList();

        Assert.Equal(500, picks.Count(p => p == "a"));
        Assert.Equal(100, picks.Count(p => p == "b"));
        Assert.Equal(100, picks.Count(p => p == "c"));
    }

    [Fact]
    public void Full_workers_are_skipped_and_return_when_a_slot_frees()
    {
        var d = new WorkerDispatcher("round-robin");
        d.SetWorkers([new("a", 1, 1), new("b", 1, 2)]);

        var first = new[] { d.Pick(null), d.Pick(null), d.Pick(null) };
        Assert.Equal(["a", "b", "b"], first.Order());
        Assert.Null(d.Pick(null));
        Assert.Equal(0, d.FreeSlots);

        d.Release("a", TimeSpan.FromMilliseconds(1), success: true);
        Assert.Equal("a", d.Pick(null));
    }

    [Fact]
    public void Least_connections_sends_less_to_a_slow_worker()
    {
        var d = new WorkerDispatcher("least-connections");
        d.SetWorkers([new("fast", 1, 100), new("slow", 1, 100)]);
        var running = new List<(string Worker, int Until)>();
        for (var tick = 0; tick < 1000; tick++)
        {
            foreach (var done in running.Where(r => r.Until == tick).ToList())
            {
                d.Release(done.Worker, TimeSpan.Zero, true);
                running.Remove(done);
            }

            var w = d.Pick(null)!;
            running.Add((w, tick + (w == "slow" ? 10 : 1)));
        }

        Assert.True(d.Dispatched("fast") > 3 * d.Dispatched("slow"), $"fast {d.Dispatched("fast")} slow {d.Dispatched("slow")}");
    }

    [Fact]
    public void Source_hash_keeps_a_key_on_one_worker_and_unknown_strategy_is_typed()
    {
        var d = new WorkerDispatcher("source-hash");
        d.SetWorkers([new("a", 1, 1000), new("b", 1, 1000), new("c", 1, 1000)]);
        Assert.Single(Enumerable.Range(0, 20).Select(_ => d.Pick("order-42")).Distinct());
        Assert.Equal("balancer", Assert.Throws<TaskValidationException>(() => new WorkerDispatcher("random-ish")).Parameter);
    }
}
