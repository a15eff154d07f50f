using System.Globalization;
using Granary.Server.Storage;
using Granary.Tests.Cluster.Infrastructure;
using Xunit.Abstractions;

namespace Granary.Tests.Cluster.Foundation;

/// <summary>
/// The grain-state writer on a table that starts empty and grows, as every new shard does: its
/// statements must find rows through the identity index, never by scanning the table, whatever the
/// table's statistics (autovacuum analyses a database about once a minute, and until then the planner
/// takes the table for empty).
/// </summary>
[Collection(ServersCollection.Name)]
public sealed class GroupCommitStateWriterPlanTests(SharedServersFixture servers, ITestOutputHelper output) : IAsyncLifetime
{
    private const string StateName = "plan";
    private static readonly TimeSpan Deadline = TimeSpan.FromSeconds(60);
    private readonly RedisPostgresClusterFixture _cluster = new(servers) { Silos = 1 };

    public Task InitializeAsync() => _cluster.InitializeAsync();

    public Task DisposeAsync() => _cluster.DisposeAsync();

    [Fact]
    public async Task Writes_to_a_new_shard_never_scan_the_whole_table()
    {
        // A database of its own, so the table is new and nothing else touches it.
        var connectionString = await _cluster.NewShardDatabaseAsync("plan");
        var provider = _cluster.ShardStorage(0);
        var writes = 0;
        await using (var writer = new GroupCommitStateWriter(connectionString, provider, StorageNames.Shard(0), "granary-test", inFlight: 1, maxBatch: 256))
        {
            // Rounds of new rows, each followed by updates of every row so far: the updates join
            // their batch with the table while it is still small.
            var states = new List<(GrainId Id, GrainState<string> State)>();
            for (var round = 0; round < 8; round++)
            {
                var created = Enumerable.Range(0, 25)
                    .Select(i => (GrainId.Create("granary.test.plan", $"r{round}-{i}"), new GrainState<string>("v0")))
                    .ToList();
                await Task.WhenAll(created.Select(s => writer.WriteStateAsync(StateName, s.Item1, s.Item2))).WaitAsync(Deadline);
                states.AddRange(created);
                writes += created.Count;
                foreach (var (_, state) in states)
                {
                    state.State = "v" + round.ToString(CultureInfo.InvariantCulture);
                }

                await Task.WhenAll(states.Select(s => writer.WriteStateAsync(StateName, s.Id, s.State))).WaitAsync(Deadline);
                writes += states.Count;
            }

            output.WriteLine($"{writer.Writes} writes in {writer.Batches} transactions");
        }

        // The writer's connections are closed, so each server process reports its counters as it ends.
        var counters = await TableScanCounters.AfterWritesAsync(connectionString, "granary_grain_state", writes, Deadline);
        output.WriteLine($"{counters.Written} rows written, {counters.IndexScans} index scans, {counters.Scans} sequential scans reading {counters.RowsScanned} rows");

        // (A scan of the still empty table, such as the schema's index build, reads no row.)
        Assert.Equal(writes, counters.Written);
        Assert.True(counters.IndexScans > 0, "no index scan was counted");
        Assert.Equal(0, counters.RowsScanned);
    }
}
