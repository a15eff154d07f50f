using System.Globalization;
using Granary.Documents;
using Granary.Server.Storage;
using Granary.Tests.Cluster.Infrastructure;
using Microsoft.Extensions.DependencyInjection;
using Orleans.Storage;
using Orleans.TestingHost;
using Xunit.Abstractions;

namespace Granary.Tests.Cluster.Foundation;

/// <summary>Grain state on real PostgreSQL shards with Redis clustering (TestCluster, in-process silos).</summary>
[Collection(ServersCollection.Name)]
public sealed class ShardedStorageTests(SharedServersFixture servers, ITestOutputHelper output) : IAsyncLifetime
{
    private readonly RedisPostgresClusterFixture _cluster = new(servers);

    public Task InitializeAsync() => _cluster.InitializeAsync();

    public Task DisposeAsync() => _cluster.DisposeAsync();

    [Fact]
    public async Task States_land_on_the_shard_the_ring_picks_and_read_back_after_reactivation()
    {
        const int count = 60;
        var keys = Enumerable.Range(0, count).Select(i => string.Create(CultureInfo.InvariantCulture, $"sharded-{i}")).ToList();
        foreach (var key in keys)
        {
            await _cluster.Grains.GetGrain<IDocumentGrain>(key).PutAsync("value-" + key);
        }

        var reports = await ShardInspector.CountAsync(_cluster.Shards, "granary-test", CancellationToken.None);
        var router = new ShardRouter(RedisPostgresClusterFixture.ShardCount);
        var expected = keys.GroupBy(k => router.ShardFor(new ShardKey(0, 0, k))).ToDictionary(g => g.Key, g => (long)g.Count(), StringComparer.Ordinal);
        foreach (var report in reports)
        {
            // Other grains (families' service grains) may keep state too: count documents only.
            var documents = report.ByState.Where(s => s.StateName == "document").Sum(s => s.Rows);
            output.WriteLine($"{report.Shard}: {documents} document rows (expected {expected.GetValueOrDefault(report.Shard)}), {report.Rows} rows in all");
            Assert.Null(report.Error);
            Assert.Equal(expected.GetValueOrDefault(report.Shard), documents);
        }

        Assert.Equal(RedisPostgresClusterFixture.ShardCount, expected.Count);

        // A fresh activation reads the row back from its shard.
        var management = _cluster.SiloGrains.GetGrain<IManagementGrain>(0); // collecting activations is not open to clients
        await management.ForceActivationCollection(TimeSpan.Zero);
        foreach (var key in keys.Take(10))
        {
            var read = await _cluster.Grains.GetGrain<IDocumentGrain>(key).GetAsync();
            Assert.Equal("value-" + key, read.Value);
            Assert.Equal(1, read.Version);
        }
    }

    [Fact]
    public async Task A_grain_key_with_nul_is_refused_typed_and_fails_no_other_write_in_its_batch()
    {
        var services = ((InProcessSiloHandle)_cluster.Cluster.Silos[0]).SiloHost.Services;
        var storage = services.GetRequiredKeyedService<IGrainStorage>(StorageNames.Default);
        var ids = Enumerable.Range(0, 50).Select(i => GrainId.Create("granary.test.group-commit", $"ok-{Guid.NewGuid():N}-{i}")).ToList();
        var bad = GrainId.Create("granary.test.group-commit", "bad\0key-" + Guid.NewGuid().ToString("N"));

        // All at once, so that the bad key would share a group-commit batch with the others.
        var writes = ids.Select(id => storage.WriteStateAsync("group-commit", id, new GrainState<string>("v-" + id.Key))).ToList();
        var error = await Assert.ThrowsAnyAsync<Granary.Errors.GranaryException>(() => storage.WriteStateAsync("group-commit", bad, new GrainState<string>("never")));
        Assert.Equal(Granary.Errors.ErrorCodes.InvalidArgument, error.Code);
        await Task.WhenAll(writes);
        foreach (var id in ids)
        {
            var read = new GrainState<string>();
            await storage.ReadStateAsync("group-commit", id, read);
            Assert.Equal("v-" + id.Key, read.State);
        }

        await Assert.ThrowsAnyAsync<Granary.Errors.GranaryException>(() => storage.ReadStateAsync("group-commit", bad, new GrainState<string>()));
    }

    [Fact]
    public async Task Concurrent_writes_are_group_committed_and_a_stale_etag_fails_alone()
    {
        var services = ((InProcessSiloHandle)_cluster.Cluster.Silos[0]).SiloHost.Services;
        var storage = services.GetRequiredKeyedService<IGrainStorage>(StorageNames.Default);
        var writers = services.GetRequiredService<GroupCommitWriters>();
        var batchesBefore = TotalBatches(writers);
        var writesBefore = TotalWrites(writers);

        // One existing row whose ETag we then hold stale.
        var contested = GrainId.Create("granary.test.group-commit", "contested-" + Guid.NewGuid().ToString("N"));
        var first = new GrainState<string>("v1");
        await storage.WriteStateAsync("group-commit", contested, first);
        var stale = new GrainState<string>("stale") { ETag = first.ETag };
        await storage.WriteStateAsync("group-commit", contested, first); // version 2: the ETag held by "stale" is now old

        const int Count = 300;
        var ids = Enumerable.Range(0, Count).Select(i => GrainId.Create("granary.test.group-commit", $"gc-{Guid.NewGuid():N}-{i}")).ToList();
        var states = ids.Select((_, i) => new GrainState<string>("value-" + i.ToString(CultureInfo.InvariantCulture))).ToList();
        var writes = ids.Select((id, i) => storage.WriteStateAsync("group-commit", id, states[i])).ToList();
        var staleWrite = storage.WriteStateAsync("group-commit", contested, stale);
        await Task.WhenAll(writes);
        await Assert.ThrowsAsync<InconsistentStateException>(() => staleWrite);

        var batches = TotalBatches(writers) - batchesBefore;
        var written = TotalWrites(writers) - writesBefore;
        output.WriteLine($"{written} writes in {batches} transactions ({(double)written / Math.Max(1, batches):F1} per transaction)");
        Assert.True(batches < written, "concurrent writes share transactions");

        for (var i = 0; i < Count; i++)
        {
            var read = new GrainState<string>();
            await storage.ReadStateAsync("group-commit", ids[i], read);
            Assert.True(read.RecordExists);
            Assert.Equal(states[i].State, read.State);
            Assert.Equal(states[i].ETag, read.ETag);
        }

        var contestedRead = new GrainState<string>();
        await storage.ReadStateAsync("group-commit", contested, contestedRead);
        Assert.Equal("v1", contestedRead.State);
        Assert.NotEqual(stale.ETag, contestedRead.ETag);

        // Second round, all at once: every row updated at its version; two writers of one row holding
        // the same ETag (exactly one wins); a "create" of a row that exists (refused).
        var updates = ids.Select((id, i) =>
        {
            states[i].State = "updated-" + i.ToString(CultureInfo.InvariantCulture);
            return storage.WriteStateAsync("group-commit", id, states[i]);
        }).ToList();
        var twinA = new GrainState<string>("twin-a") { ETag = contestedRead.ETag };
        var twinB = new GrainState<string>("twin-b") { ETag = contestedRead.ETag };
        var twins = new[] { storage.WriteStateAsync("group-commit", contested, twinA), storage.WriteStateAsync("group-commit", contested, twinB) };
        var recreate = storage.WriteStateAsync("group-commit", ids[0], new GrainState<string>("recreated"));
        await Task.WhenAll(updates);
        await Assert.ThrowsAsync<InconsistentStateException>(() => recreate);
        var twinOutcomes = await Task.WhenAll(twins.Select(async t =>
        {
            try
            {
                await t;
                return true;
            }
            catch (InconsistentStateException)
            {
                return false;
            }
        }));
        Assert.Single(twinOutcomes, won => won);

        for (var i = 0; i < Count; i++)
        {
            var read = new GrainState<string>();
            await storage.ReadStateAsync("group-commit", ids[i], read);
            Assert.Equal(states[i].State, read.State);
            Assert.Equal(states[i].ETag, read.ETag);
        }

        var twinRead = new GrainState<string>();
        await storage.ReadStateAsync("group-commit", contested, twinRead);
        Assert.Equal(twinOutcomes[0] ? "twin-a" : "twin-b", twinRead.State);
    }

    private static long TotalBatches(GroupCommitWriters writers) => writers.Current.Values.Sum(w => w.Batches);

    private static long TotalWrites(GroupCommitWriters writers) => writers.Current.Values.Sum(w => w.Writes);

    [Fact]
    public async Task Adding_a_shard_and_rebalancing_moves_only_states_whose_owner_changed()
    {
        const int count = 120;
        var keys = Enumerable.Range(0, count).Select(i => string.Create(CultureInfo.InvariantCulture, $"rebalance-{i}")).ToList();
        await Task.WhenAll(keys.Select(k => _cluster.Grains.GetGrain<IDocumentGrain>(k).PutAsync("v")));
        var before = await ShardInspector.CountAsync(_cluster.Shards, "granary-test", CancellationToken.None);

        var fourth = servers.Postgres.ConnectionString("tc" + Guid.NewGuid().ToString("N")[..8] + "_added");
        var shards = _cluster.Shards.Append(fourth).ToList();
        await PostgresShardInitializer.EnsureShardsAsync(shards, createDatabases: true, Microsoft.Extensions.Logging.Abstractions.NullLogger.Instance, CancellationToken.None);
        var report = await ShardRebalancer.RebalanceAsync(shards, 160, "granary-test", CancellationToken.None);
        var after = await ShardInspector.CountAsync(shards, "granary-test", CancellationToken.None);

        var oldRouter = new ShardRouter(3);
        var newRouter = new ShardRouter(4);
        var shouldMove = keys.Count(k => oldRouter.ShardFor(new ShardKey(0, 0, k)) != newRouter.ShardFor(new ShardKey(0, 0, k)));
        output.WriteLine($"rows {before.Sum(r => r.Rows)} -> moved {report.RowsMoved} (documents that had to move: {shouldMove}; ideal fraction 25%, actual {report.MovedFraction:P1})");

        // Every document now sits on the shard the 4-shard ring picks, none was lost or duplicated.
        long Documents(ShardReport r) => r.ByState.Where(s => s.StateName == "document").Sum(s => s.Rows);
        for (var i = 0; i < 4; i++)
        {
            var shard = StorageNames.Shard(i);
            Assert.Equal(keys.Count(k => newRouter.ShardFor(new ShardKey(0, 0, k)) == shard), Documents(after[i]));
        }

        Assert.Equal(keys.Count, after.Sum(Documents));
        Assert.Equal(before.Sum(r => r.Rows), after.Sum(r => r.Rows));

        // Only states whose owner changed moved, and all of them to the new shard.
        Assert.InRange(report.RowsMoved, shouldMove, shouldMove + (report.RowsScanned - keys.Count));
        Assert.Equal(report.RowsMoved, after[3].Rows);
        Assert.Equal(report.RowsMoved, report.MovedTo.GetValueOrDefault(StorageNames.Shard(3)));
    }
}
