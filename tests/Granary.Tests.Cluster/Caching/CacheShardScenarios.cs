using System.Globalization;
using Granary.Caching;
using Granary.Client.Caching;
using Granary.Errors;
using Granary.Tests.Cluster.Foundation;
using Granary.Tests.Cluster.Infrastructure;
using Orleans.Concurrency;
using Xunit.Abstractions;

namespace Granary.Tests.Cluster.Caching;

/// <summary>
/// Named caches on shard grains: routing, coalescing, SCAN across shards, resharding, CAS; written once
/// and run on every storage backend (<see cref="CacheShardScenariosOnMemory"/>, <see cref="CacheShardScenariosOnPostgres"/>).
/// </summary>
public abstract class CacheShardScenarios(GranaryTestClusterFixture cluster, ITestOutputHelper output)
{
    private static string NewCache() => "test-" + Guid.NewGuid().ToString("N");

    [Fact]
    public async Task Concurrent_operations_for_a_shard_are_coalesced_into_fewer_grain_calls()
    {
        await using var cache = await CacheClient.ConnectAsync(cluster.Grains, NewCache());
        var writes = Enumerable.Range(0, 4000).Select(i => cache.ExecuteAsync(["SET", $"k{i}", $"v{i}"]));
        Assert.All(await Task.WhenAll(writes), r => Assert.Equal(CacheReply.Ok, r));
        var reads = await Task.WhenAll(Enumerable.Range(0, 4000).Select(i => cache.ExecuteAsync(["GET", $"k{i}"])));
        Assert.All(Enumerable.Range(0, 4000), i => Assert.Equal($"v{i}", reads[i].Text));

        var (calls, commands) = cache.BatchingCounters;
        output.WriteLine($"{commands} commands in {calls} grain calls ({commands / (double)calls:F1} per call) over {cache.Definition.Shards} shards");
        Assert.Equal(8000, commands);
        Assert.True(calls * 4 < commands, $"{calls} calls for {commands} commands");

        var perShard = await cache.GetShardStatisticsAsync();
        Assert.Equal(4000, perShard.Sum(s => s.Keys));
        Assert.True(perShard.All(s => s.Keys > 4000 / cache.Definition.Shards / 2), "keys spread over every shard");
    }

    [Fact]
    public async Task Pipelines_of_many_connections_share_grain_calls_and_keep_each_connections_order()
    {
        await using var cache = await CacheClient.ConnectAsync(cluster.Grains, NewCache());
        const int Connections = 64;
        const int KeysPerConnection = 8;

        // Each connection's pipeline writes, reads, appends and reads again each of its keys: the replies
        // show the order the commands ran in, per key.
        static string[][] Pipeline(int connection) => [.. Enumerable.Range(0, KeysPerConnection).SelectMany(k =>
        {
            var key = $"p{connection}:{k}";
            return new[] { new[] { "SET", key, "a" }, ["GET", key], ["APPEND", key, "b"], ["GET", key] };
        })];

        var (callsBefore, commandsBefore) = cache.BatchingCounters;
        var replies = await Task.WhenAll(Enumerable.Range(0, Connections).Select(c => cache.ExecuteInOrderAsync(Pipeline(c))));
        var (callsAfter, commandsAfter) = cache.BatchingCounters;

        foreach (var connection in replies)
        {
            Assert.Equal(KeysPerConnection * 4, connection.Length);
            for (var k = 0; k < KeysPerConnection; k++)
            {
                Assert.Equal([CacheReply.Ok, CacheReply.Bulk("a"), CacheReply.Int(2), CacheReply.Bulk("ab")], connection.Skip(k * 4).Take(4));
            }
        }

        // Each pipeline holds one group per shard it touches (a grain call of its own if groups were not
        // shared, so at least as many calls as groups); the groups of all connections went through the
        // shards' batchers and shared their calls. How many share one call depends on how many arrive while
        // the shard's calls are in flight, which the shared CPU decides (a loaded CI run gave 112 calls for
        // 327 groups, an idle one 24, three per shard): fewer calls than groups is what shows sharing.
        var groups = Enumerable.Range(0, Connections).Sum(c => Pipeline(c).Select(command => cache.ShardOfKeys(command, out _)).Distinct().Count());
        var calls = callsAfter - callsBefore;
        var commands = commandsAfter - commandsBefore;
        output.WriteLine($"{commands} pipelined commands of {Connections} connections ({groups} shard groups) in {calls} grain calls over {cache.Definition.Shards} shards");
        Assert.Equal(Connections * KeysPerConnection * 4, commands);
        Assert.True(calls < groups, $"{calls} grain calls for {groups} shard groups");
    }

    [Fact]
    public async Task Scan_across_shards_returns_every_key_once()
    {
        await using var cache = await CacheClient.ConnectAsync(cluster.Grains, NewCache());
        await Task.WhenAll(Enumerable.Range(0, 600).Select(i => cache.ExecuteAsync(["SET", (i % 2 == 0 ? "user:" : "order:") + i.ToString(CultureInfo.InvariantCulture), "v"])));

        var seen = new List<string>();
        var cursor = "0";
        var calls = 0;
        do
        {
            var reply = await cache.ExecuteAsync(["SCAN", cursor, "MATCH", "user:*", "COUNT", "40"]);
            cursor = reply.Items![0].Text!;
            seen.AddRange(reply.Items[1].Items!.Select(r => r.Text!));
            calls++;
        }
        while (cursor != "0" && calls < 1000);

        output.WriteLine($"SCAN returned {seen.Count} keys in {calls} calls");
        Assert.Equal(300, seen.Count);
        Assert.Equal(300, seen.Distinct(StringComparer.Ordinal).Count());
        Assert.All(seen, k => Assert.StartsWith("user:", k, StringComparison.Ordinal));
        Assert.Equal(CacheReply.Int(600), await cache.ExecuteAsync(["DBSIZE"]));
    }

    [Fact]
    public async Task Multi_key_commands_split_across_shards_and_merge_in_order()
    {
        await using var cache = await CacheClient.ConnectAsync(cluster.Grains, NewCache());
        var keys = Enumerable.Range(0, 20).Select(i => $"m{i}").ToArray();
        Assert.Equal(CacheReply.Ok, await cache.ExecuteAsync(["MSET", .. keys.SelectMany(k => new[] { k, k + "-value" })]));
        var values = await cache.ExecuteAsync(["MGET", .. keys, "absent"]);
        Assert.Equal([.. keys.Select(k => k + "-value"), null], values.Items!.Select(r => r.Text));
        Assert.Equal(CacheReply.Int(20), await cache.ExecuteAsync(["EXISTS", .. keys]));
        Assert.Equal(CacheReply.Int(20), await cache.ExecuteAsync(["DEL", .. keys, "absent"]));
    }

    [Fact]
    public async Task Cas_through_grains_succeeds_only_on_the_version_read()
    {
        await using var cache = await CacheClient.ConnectAsync(cluster.Grains, NewCache());
        await cache.SetAsync("stock", "10");
        var version = (await cache.ExecuteAsync(["GETS", "stock"])).Items![1].Integer.ToString(CultureInfo.InvariantCulture);

        var racers = await Task.WhenAll(Enumerable.Range(0, 10).Select(i => cache.ExecuteAsync(["CAS", "stock", $"9-by-{i}", version])));

        Assert.Equal(1, racers.Count(r => r.Text == "STORED"));
        Assert.Equal(9, racers.Count(r => r.Text == "EXISTS"));
        Assert.StartsWith("9-by-", await cache.GetAsync("stock"), StringComparison.Ordinal);
    }

    [Fact]
    public async Task Resharding_moves_close_to_the_ideal_fraction_and_loses_nothing()
    {
        await using var cache = await CacheClient.ConnectAsync(cluster.Grains, NewCache());
        const int Keys = 5000;
        await Task.WhenAll(Enumerable.Range(0, Keys).Select(i => cache.ExecuteAsync(["SET", $"r{i}", $"v{i}", "EX", "3600"])));
        await cache.ExecuteAsync(["HSET", "r-hash", "f", "1"]);
        await cache.ExecuteAsync(["ZADD", "r-zset", "1.5", "a", "2", "b"]);

        var result = await cluster.Grains.GetGrain<ICacheDefinitionGrain>(cache.Name).ReshardAsync(cache.Definition.Shards + 2);
        var fraction = result.KeysMoved / (double)result.KeysBefore;
        output.WriteLine($"{result.KeysBefore} keys, moved {result.KeysMoved} ({fraction:P1}); ideal {result.IdealFraction:P1}; ring version {result.Definition.Version}");

        Assert.InRange(fraction, result.IdealFraction * 0.5, result.IdealFraction * 1.3);
        var reads = await Task.WhenAll(Enumerable.Range(0, Keys).Select(i => cache.ExecuteAsync(["GET", $"r{i}"])));
        Assert.All(Enumerable.Range(0, Keys), i => Assert.Equal($"v{i}", reads[i].Text));
        Assert.Equal(result.Definition.Version, cache.Definition.Version);
        Assert.Equal(CacheReply.Bulk("1"), await cache.ExecuteAsync(["HGET", "r-hash", "f"]));
        Assert.Equal(CacheReply.Bulk("1.5"), await cache.ExecuteAsync(["ZSCORE", "r-zset", "a"]));
        Assert.InRange((await cache.ExecuteAsync(["TTL", "r0"])).Integer, 3500, 3600);
        Assert.Equal(CacheReply.Int(Keys + 2), await cache.ExecuteAsync(["DBSIZE"]));
    }

    [Fact]
    public async Task Bad_input_is_refused_with_redis_style_errors_and_changes_nothing()
    {
        await using var cache = await CacheClient.ConnectAsync(cluster.Grains, NewCache());
        await cache.SetAsync("kept", "value");

        var longKey = await cache.ExecuteAsync(["SET", new string('k', Limits.MaxKeyLength + 1), "v"]);
        var bigValue = await cache.ExecuteAsync(["SET", "kept", new string('x', Limits.Caching.MaxValueLength + 1)]);
        var badNumber = await cache.ExecuteAsync(["SET", "kept", "other", "EX", "ten"]);
        var badOption = await cache.ExecuteAsync(["SET", "kept", "other", "FOREVER"]);

        Assert.Equal($"ERR key is {Limits.MaxKeyLength + 1} characters long; the limit is {Limits.MaxKeyLength}", longKey.Text);
        Assert.Equal(RedisText.ValueTooLarge, bigValue.Text);
        Assert.Equal(RedisText.NotInteger, badNumber.Text);
        Assert.Equal(RedisText.Syntax, badOption.Text);
        Assert.Equal("value", await cache.GetAsync("kept"));
        Assert.Equal(CacheReply.One, await cache.ExecuteAsync(["DBSIZE"]));

        var shard = cluster.Grains.GetGrain<ICacheShardGrain>(CacheDefinition.ShardKey(cache.Name, 0));
        var tooMany = Enumerable.Range(0, Limits.MaxBatchSize + 1).Select(_ => new[] { "SET", "x", "y" }).ToArray();
        await Assert.ThrowsAsync<InvalidRequestException>(() => shard.ExecuteAsync(tooMany.AsImmutable(), cache.Definition.Version));
        Assert.Equal(CacheReply.One, await cache.ExecuteAsync(["DBSIZE"]));
        await Assert.ThrowsAsync<InvalidRequestException>(() => CacheClient.ConnectAsync(cluster.Grains, "bad/name"));
    }

    [Fact]
    public async Task Hundred_concurrent_misses_cause_one_backing_load()
    {
        await using var cache = await CacheClient.ConnectAsync(cluster.Grains, NewCache());
        var loads = 0;
        var gate = new TaskCompletionSource(TaskCreationOptions.RunContinuationsAsynchronously);
        async Task<string?> LoadFromCatalogue(string key)
        {
            Interlocked.Increment(ref loads);
            await gate.Task;
            return "price-of-" + key;
        }

        var readers = Enumerable.Range(0, 100).Select(_ => cache.GetOrLoadAsync("sku:42", LoadFromCatalogue, TimeSpan.FromMinutes(5))).ToArray();
        await Eventually.TrueAsync("the first backing load started", () => Volatile.Read(ref loads) > 0, TimeSpan.FromSeconds(10));
        gate.SetResult();
        var values = await Task.WhenAll(readers);

        output.WriteLine($"100 concurrent misses -> {loads} backing load(s)");
        Assert.Equal(1, loads);
        Assert.All(values, v => Assert.Equal("price-of-sku:42", v));
        Assert.Equal("price-of-sku:42", await cache.GetAsync("sku:42"));
        Assert.True(await cache.InvalidateAsync("sku:42"));
        Assert.Equal("price-of-sku:42", await cache.GetOrLoadAsync("sku:42", LoadFromCatalogue));
        Assert.Equal(2, loads);
    }
}

/// <summary>The cache shard scenarios on memory storage (the fast cluster).</summary>
[Collection(FastClusterCollection.Name)]
public sealed class CacheShardScenariosOnMemory(FastClusterFixture cluster, ITestOutputHelper output) : CacheShardScenarios(cluster, output);

/// <summary>The cache shard scenarios on Redis clustering and PostgreSQL shards.</summary>
[Collection(PostgresClusterCollection.Name)]
public sealed class CacheShardScenariosOnPostgres(PostgresClusterFixture cluster, ITestOutputHelper output) : CacheShardScenarios(cluster, output);
