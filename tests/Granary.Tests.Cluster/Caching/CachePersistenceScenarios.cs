using System.Diagnostics;
using System.Globalization;
using Granary.Caching;
using Granary.Client.Caching;
using Granary.Errors;
using Granary.Tests.Cluster.Foundation;
using Granary.Tests.Cluster.Infrastructure;
using Xunit.Abstractions;

namespace Granary.Tests.Cluster.Caching;

/// <summary>
/// Per-cache settings chosen at creation, write-through group commit and periodic snapshots on
/// in-process silos, written once and run on every shard row store
/// (<see cref="CachePersistenceScenariosOnMemory"/>, <see cref="CachePersistenceScenariosOnPostgres"/>).
/// </summary>
public abstract class CachePersistenceScenarios(GranaryTestClusterFixture cluster, ITestOutputHelper output)
{
    private static readonly TimeSpan Settle = TimeSpan.FromSeconds(10);

    private static string NewCache() => "persist-" + Guid.NewGuid().ToString("N");

    [Fact]
    public async Task Settings_are_chosen_at_creation_persisted_and_enforced_per_cache()
    {
        var name = NewCache();
        var settings = new CacheSettings(CachePersistence.WriteThrough, EvictionPolicy.NoEviction, MaxMemoryBytesPerShard: 20_000);
        await using var cache = await CacheClient.CreateAsync(cluster.Grains, name, 2, settings);
        Assert.Equal(settings, cache.Definition.Settings);
        Assert.Equal(2, cache.Definition.Shards);
        Assert.Equal(CachePersistence.WriteThrough, cache.Definition.Persistence);

        // Same arguments: idempotent. Other settings: refused, the definition unchanged.
        var again = await cluster.Grains.GetGrain<ICacheDefinitionGrain>(name).CreateAsync(2, settings);
        Assert.Equal(settings, again.Settings);
        await Assert.ThrowsAsync<InvalidRequestException>(() => cluster.Grains.GetGrain<ICacheDefinitionGrain>(name).CreateAsync(2, settings with { Persistence = CachePersistence.Volatile }));
        await Assert.ThrowsAsync<InvalidRequestException>(() => cluster.Grains.GetGrain<ICacheDefinitionGrain>(name).CreateAsync(3, settings));
        await Assert.ThrowsAsync<InvalidRequestException>(() => cluster.Grains.GetGrain<ICacheDefinitionGrain>(NewCache()).CreateAsync(2, settings with { SnapshotIntervalMilliseconds = 1 }));
        Assert.Equal(settings, (await cluster.Grains.GetGrain<ICacheDefinitionGrain>(name).PeekAsync())!.Settings);

        // This cache's no-eviction bound holds although the silos default to LRU with 64 MiB.
        var value = new string('v', 500);
        CacheReply? refused = null;
        var stored = 0;
        for (var i = 0; i < 200 && refused is null; i++)
        {
            var reply = await cache.ExecuteAsync(["SET", "k" + i.ToString(CultureInfo.InvariantCulture), value]);
            if (reply.IsError)
            {
                refused = reply;
            }
            else
            {
                stored++;
            }
        }

        output.WriteLine($"no-eviction cache with 20,000 bytes per shard: {stored} SETs stored, then '{refused?.Text}'");
        Assert.NotNull(refused);
        Assert.StartsWith("OOM", refused.Text, StringComparison.Ordinal);
        Assert.Equal(stored, (await cache.GetStatisticsAsync()).Keys);
        Assert.Equal(0, (await cache.GetStatisticsAsync()).Evictions);
        Assert.Null(await cluster.Grains.GetGrain<ICacheDefinitionGrain>(NewCache()).PeekAsync());
    }

    [Fact]
    public async Task Write_through_acknowledges_after_the_write_and_group_commits_concurrent_writes()
    {
        await using var cache = await CacheClient.CreateAsync(cluster.Grains, NewCache(), 2, new CacheSettings(CachePersistence.WriteThrough));
        const int writes = 3000;
        var replies = await Task.WhenAll(Enumerable.Range(0, writes).Select(i => cache.ExecuteAsync(["SET", "k" + i.ToString(CultureInfo.InvariantCulture), "v" + i.ToString(CultureInfo.InvariantCulture)])));
        Assert.All(replies, r => Assert.Equal(CacheReply.Ok, r));
        Assert.Equal(CacheReply.Int(1), await cache.ExecuteAsync(["DEL", "k0"]));
        Assert.Equal(CacheReply.Int(5), await cache.ExecuteAsync(["INCRBY", "counter", "5"]));

        var stats = await cache.GetStatisticsAsync();
        output.WriteLine($"{writes} concurrent SETs + DEL + INCRBY: {stats.KeysPersisted} key rows in {stats.StorageWrites} storage writes ({stats.KeysPersisted / (double)stats.StorageWrites:F1} per write)");

        // Every acknowledged write was in a storage write before its reply: all rows are accounted for.
        Assert.Equal(writes + 2, stats.KeysPersisted);
        Assert.True(stats.StorageWrites * 5 < writes, $"{stats.StorageWrites} storage writes for {writes} SETs: not group-committed");
        Assert.Equal("v1", await cache.GetAsync("k1"));
    }

    [Theory]
    [InlineData(CachePersistence.WriteThrough)]
    [InlineData(CachePersistence.Snapshot)]
    public async Task Error_replies_and_no_op_writes_mark_nothing_dirty_and_cost_no_storage_write(CachePersistence persistence)
    {
        var name = NewCache();
        await using var cache = await CacheClient.CreateAsync(cluster.Grains, name, 1, new CacheSettings(persistence, SnapshotIntervalMilliseconds: persistence == CachePersistence.Snapshot ? 50 : null));
        string[][] seed = [["SET", "s", "text"], ["SET", "n", "5"], ["RPUSH", "l", "a", "b"], ["ZADD", "z", "1", "m"], ["HSET", "h", "f", "v"]];
        foreach (var command in seed)
        {
            Assert.False((await cache.ExecuteAsync(command)).IsError);
        }

        await WaitForPersistedAsync(cache, seed.Length);
        var before = await cache.GetStatisticsAsync();

        string[][] refused =
        [
            ["LPUSH", "s", "x"], ["INCR", "s"], ["SET", "s", "v", "EX", "0"], ["SET", "s", "v", "BOGUS"], ["INCRBY", "n", "9223372036854775807"],
            ["INCRBYFLOAT", "n", "abc"], ["ZADD", "z", "1e400", "m"], ["ZINCRBY", "z", "nan", "m"], ["LREM", "l", "x", "a"], ["LPOP", "l", "-1"],
            ["HINCRBY", "h", "f", "q"], ["EXPIRE", "s", "abc"], ["FLUSHALL", "BOGUS"], ["NOSUCHCOMMAND", "s"], ["GET"],
        ];
        string[][] noOps =
        [
            ["DEL", "missing"], ["SET", "s", "other", "NX"], ["LREM", "l", "0", "zz"], ["HDEL", "h", "nofield"], ["ZREM", "z", "nomember"],
            ["ZADD", "z", "NX", "5", "m"], ["PERSIST", "s"], ["EXPIRE", "s", "100", "XX"], ["EXPIRE", "missing", "10"], ["SREM", "missing", "x"],
        ];
        var replies = await Task.WhenAll(refused.Concat(noOps).Select(c => cache.ExecuteAsync(c)));
        Assert.All(replies.Take(refused.Length), r => Assert.True(r.IsError, r.ToString()));
        Assert.All(replies.Skip(refused.Length), r => Assert.False(r.IsError, r.ToString()));

        // One real write: once it is stored, every write the commands above could have caused would be too.
        Assert.Equal(CacheReply.Ok, await cache.ExecuteAsync(["SET", "marker", "1"]));
        await WaitForPersistedAsync(cache, before.KeysPersisted + 1);
        var after = await cache.GetStatisticsAsync();
        output.WriteLine($"{persistence}: {refused.Length} error replies and {noOps.Length} no-op writes, then one SET: {after.StorageWrites - before.StorageWrites} storage write, {after.KeysPersisted - before.KeysPersisted} key row");
        Assert.Equal(1, after.KeysPersisted - before.KeysPersisted);
        Assert.Equal(1, after.StorageWrites - before.StorageWrites);

        // Storage holds everything (FLUSHALL BOGUS cleared nothing): a reloaded shard serves the same data.
        // DeactivateAsync only asks the shard to deactivate when idle: a call sent right after it may
        // still reach the old activation (which loaded nothing), so wait for the new one's load.
        await cluster.SiloGrains.GetGrain<ICacheShardGrain>(CacheDefinition.ShardKey(name, 0)).DeactivateAsync();
        var reloaded = await Eventually.ValueAsync("a new activation of the shard loaded its keys", () => cache.GetStatisticsAsync(), s => s.KeysLoaded > 0, Settle);

        Assert.Equal(seed.Length + 1, reloaded.KeysLoaded);
        Assert.Equal("text", await cache.GetAsync("s"));
        Assert.Equal(CacheReply.BulkArray(["a", "b"]), await cache.ExecuteAsync(["LRANGE", "l", "0", "-1"]));
        Assert.Equal(CacheReply.Bulk("1"), await cache.ExecuteAsync(["ZSCORE", "z", "m"]));
    }

    private static Task WaitForPersistedAsync(CacheClient cache, long keys)
        => Eventually.TrueAsync($"{keys} key rows written", async () => (await cache.GetStatisticsAsync()).KeysPersisted >= keys, Settle);

    [Fact]
    public async Task Snapshot_writes_changed_keys_within_its_interval_without_making_writes_wait()
    {
        await using var cache = await CacheClient.CreateAsync(cluster.Grains, NewCache(), 2, new CacheSettings(CachePersistence.Snapshot, SnapshotIntervalMilliseconds: 200));
        var clock = Stopwatch.StartNew();
        await Task.WhenAll(Enumerable.Range(0, 500).Select(i => cache.SetAsync("s" + i.ToString(CultureInfo.InvariantCulture), "v")));
        var acknowledged = clock.Elapsed;
        var afterWrites = await cache.GetStatisticsAsync();
        var stats = await Eventually.ValueAsync("the 500 keys snapshotted", () => cache.GetStatisticsAsync(), s => s.KeysPersisted >= 500, Settle);

        output.WriteLine($"500 SETs acknowledged after {acknowledged.TotalMilliseconds:F0} ms with {afterWrites.KeysPersisted} rows written; all 500 rows written after {clock.Elapsed.TotalMilliseconds:F0} ms in {stats.StorageWrites} snapshot writes");
        Assert.Equal(500, stats.KeysPersisted);
        Assert.True(stats.StorageWrites <= 4, $"{stats.StorageWrites} snapshot writes");
    }
}

/// <summary>The cache persistence scenarios on the memory row store (the fast cluster).</summary>
[Collection(FastClusterCollection.Name)]
public sealed class CachePersistenceScenariosOnMemory(FastClusterFixture cluster, ITestOutputHelper output) : CachePersistenceScenarios(cluster, output);

/// <summary>The cache persistence scenarios on the PostgreSQL shard row store.</summary>
[Collection(PostgresClusterCollection.Name)]
public sealed class CachePersistenceScenariosOnPostgres(PostgresClusterFixture cluster, ITestOutputHelper output) : CachePersistenceScenarios(cluster, output);
