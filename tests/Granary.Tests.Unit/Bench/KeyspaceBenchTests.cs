using Granary.Bench;
using Granary.Bench.Commands;
using Granary.Caching;

namespace Granary.Tests.Unit.Bench;

public sealed class KeyspaceBenchTests
{
    [Fact]
    public void A_keyspace_round_runs_every_operation_on_the_engine_and_times_it()
    {
        var workload = new CacheWorkload(CacheBenchOp.Set, Keys: 50, ValueSize: 8);
        var keyspace = new CacheKeyspace(new CacheKeyspaceOptions(), TimeProvider.System);
        var round = KeyspaceBenchCommand.Round(keyspace, workload, write: true, operations: 1_000);
        Assert.True(round.NanosecondsPerOp > 0);
        Assert.InRange(round.PauseNanosecondsPerOp, 0, round.NanosecondsPerOp);
        Assert.Equal(50, keyspace.Execute("DBSIZE").Integer);
        Assert.Equal(workload.ValueFor(999), keyspace.Execute("GET", workload.KeyFor(0, 999)).Text);

        var reads = KeyspaceBenchCommand.Round(keyspace, workload with { Op = CacheBenchOp.Get }, write: false, operations: 1_000);
        Assert.True(reads.NanosecondsPerOp > 0);
        Assert.Equal(50, keyspace.Execute("DBSIZE").Integer);
    }
}
