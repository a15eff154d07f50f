using System.Globalization;
using System.Net;
using System.Text;
using Granary.Caching;
using Granary.Client.Caching;
using Granary.Hashing;
using Granary.Server.Resp;
using Granary.Tests.Cluster.Infrastructure;
using Microsoft.Extensions.DependencyInjection;
using Orleans.Runtime;
using Orleans.Storage;
using Orleans.TestingHost;
using StackExchange.Redis;
using Xunit.Abstractions;

namespace Granary.Tests.Cluster.Resp;

/// <summary>
/// Three in-process silos with memory storage whose RESP endpoints run in cluster mode; one cache row store
/// for all of them, as one PostgreSQL database is for silo processes.
/// </summary>
public sealed class RespClusterModeFixture : GranaryTestClusterFixture
{
    /// <summary>Each silo's address and RESP port, in silo order.</summary>
    public IReadOnlyList<(SiloAddress Silo, int Port)> Endpoints =>
        [.. Cluster.Silos.OfType<InProcessSiloHandle>().Select(s => (s.SiloAddress, s.SiloHost.Services.GetRequiredService<RespEndpoint>().LocalEndPoint!.Port))];

    /// <summary>The RESP port of the silo at <paramref name="silo"/>.</summary>
    public int PortOf(SiloAddress silo) => Endpoints.Single(e => e.Silo.Equals(silo)).Port;

    /// <inheritdoc/>
    public override async Task InitializeAsync()
    {
        await base.InitializeAsync();

        // Shards are spread over the silos the placing silo knows: let every silo know all three before
        // a test activates the first shard.
        var silos = Cluster.Silos.OfType<InProcessSiloHandle>().ToList();
        await Eventually.TrueAsync(
            "every silo's cluster manifest lists all three silos",
            () => silos.All(s => s.SiloHost.Services.GetRequiredService<IClusterManifestProvider>().Current.Silos.Count == silos.Count),
            TimeSpan.FromSeconds(30));
    }

    /// <inheritdoc/>
    protected override Task ConfigureAsync(TestClusterBuilder builder)
    {
        ArgumentNullException.ThrowIfNull(builder);
        builder.Properties["Granary:Storage:Mode"] = "Memory";
        builder.Properties["Granary:Resp:Port"] = "0";
        builder.Properties["Granary:Resp:ClusterMode"] = "true";
        builder.AddSiloBuilderConfigurator<SharedMemoryCacheShardStoreConfigurator>();
        return Task.CompletedTask;
    }
}

/// <summary>
/// Cluster mode: every silo's endpoint describes the same slot map (each slot served by the silo hosting the
/// shard that owns it), cluster-aware clients route by it, redis-cli checks it, and hash tags place keys
/// together. Also: a cache defined before hash slots keeps its keys.
/// </summary>
[Collection(ServersCollection.Name)]
public sealed class RespClusterModeTests(RespClusterModeFixture fixture, ITestOutputHelper output) : IClassFixture<RespClusterModeFixture>
{
    private static readonly TimeSpan Settle = TimeSpan.FromSeconds(30);
    private static readonly TimeSpan CliTimeout = TimeSpan.FromSeconds(60);

    [Fact]
    public async Task Every_silo_describes_the_same_map_and_each_slot_is_served_by_the_silo_hosting_its_shard()
    {
        await using var redis = await ConnectAsync();
        var views = new List<string>();
        foreach (var (silo, port) in fixture.Endpoints)
        {
            var server = redis.GetServer(IPAddress.Loopback, port);
            Assert.Equal(ServerType.Cluster, server.ServerType);
            var nodes = (string)(await server.ExecuteAsync("CLUSTER", "NODES"))!;
            var myId = (string)(await server.ExecuteAsync("CLUSTER", "MYID"))!;
            Assert.Matches("^[0-9a-f]{40}$", myId);
            var lines = nodes.Split('\n', StringSplitOptions.RemoveEmptyEntries);
            Assert.Equal(3, lines.Length);
            var mine = Assert.Single(lines, l => l.Contains("myself", StringComparison.Ordinal));
            Assert.StartsWith($"{myId} 127.0.0.1:{port}@", mine, StringComparison.Ordinal);
            views.Add(string.Join('\n', lines.Select(l => l.Replace("myself,", string.Empty, StringComparison.Ordinal)).Order(StringComparer.Ordinal)));
            Assert.Contains("cluster_enabled:1", (string)(await server.ExecuteAsync("INFO", "cluster"))!, StringComparison.Ordinal);
            Assert.Equal("yes", (string)(await server.ExecuteAsync("CONFIG", "GET", "cluster-enabled"))![1]!);
            Assert.Equal("OK", (string)(await server.ExecuteAsync("READONLY"))!);
        }

        Assert.Single(views.Distinct(StringComparer.Ordinal));

        // CLUSTER SLOTS covers 0..16383 once, in order; each key's slot is served by the silo hosting its shard.
        var first = redis.GetServer(IPAddress.Loopback, fixture.Endpoints[0].Port);
        var slots = (RedisResult[])(await first.ExecuteAsync("CLUSTER", "SLOTS"))!;
        var owners = new int[HashSlot.Count];
        var next = 0;
        foreach (var range in slots.Select(r => (RedisResult[])r!).OrderBy(r => (int)r[0]))
        {
            Assert.Equal(next, (int)range[0]);
            var port = (int)((RedisResult[])range[2]!)[1];
            for (var slot = (int)range[0]; slot <= (int)range[1]; slot++)
            {
                owners[slot] = port;
            }

            next = (int)range[1] + 1;
        }

        Assert.Equal(HashSlot.Count, next);
        await using var cache = await CacheClient.ConnectAsync(fixture.Grains, RespOptions.DefaultCache);
        Assert.Equal(CacheKeyPlacement.HashSlots, cache.Definition.Placement);
        var map = cache.Definition.BuildMap();
        var management = fixture.Grains.GetGrain<IManagementGrain>(0);
        var shardsPerSilo = new Dictionary<int, int>();
        for (var shard = 0; shard < map.Shards; shard++)
        {
            var host = await management.GetActivationAddress(fixture.Grains.GetGrain<ICacheShardGrain>(CacheDefinition.ShardKey(cache.Definition.Name, shard)));
            Assert.NotNull(host);
            var slotsOfShard = Enumerable.Range(0, HashSlot.Count).Where(s => map.ShardOfSlot(s) == shard).ToList();
            Assert.NotEmpty(slotsOfShard);
            Assert.All(slotsOfShard, s => Assert.Equal(fixture.PortOf(host), owners[s]));
            shardsPerSilo[fixture.PortOf(host)] = shardsPerSilo.GetValueOrDefault(fixture.PortOf(host)) + 1;
        }

        // The shards spread over every silo, evenly (8 on 3: 3, 3 and 2), wherever the first calls came from.
        output.WriteLine($"{slots.Length} slot ranges over {map.Shards} shards, per silo: {string.Join(", ", shardsPerSilo.Values)}");
        Assert.Equal(fixture.Endpoints.Count, shardsPerSilo.Count);
        Assert.True(shardsPerSilo.Values.Max() - shardsPerSilo.Values.Min() <= 1);
    }

    [Fact]
    public async Task StackExchange_Redis_routes_each_key_to_the_silo_hosting_it_and_runs_hash_tagged_multi_key_commands()
    {
        await using var redis = await ConnectAsync();
        var db = redis.GetDatabase();
        await using var cache = await CacheClient.ConnectAsync(fixture.Grains, RespOptions.DefaultCache);
        var map = cache.Definition.BuildMap();
        var management = fixture.Grains.GetGrain<IManagementGrain>(0);
        var prefix = "route:" + Guid.NewGuid().ToString("N") + ":";
        var ports = new HashSet<int>();
        for (var i = 0; i < 60; i++)
        {
            var key = prefix + i.ToString(CultureInfo.InvariantCulture);
            Assert.True(await db.StringSetAsync(key, "v" + i.ToString(CultureInfo.InvariantCulture)));
            var host = await management.GetActivationAddress(fixture.Grains.GetGrain<ICacheShardGrain>(CacheDefinition.ShardKey(cache.Definition.Name, map.ShardOf(key))));
            var routed = Assert.IsType<IPEndPoint>(db.IdentifyEndpoint(key));
            Assert.Equal(fixture.PortOf(host!), routed.Port);
            ports.Add(routed.Port);
            Assert.Equal("v" + i.ToString(CultureInfo.InvariantCulture), (string?)await db.StringGetAsync(key));
        }

        // The shards spread over the three silos, and the client follows them.
        output.WriteLine($"60 keys routed to {ports.Count} silos");
        Assert.Equal(fixture.Endpoints.Count, ports.Count);

        // Multi-key commands on one hash tag: MSET/MGET, a transaction, same-shard commands (RENAME, SINTERCARD, LMPOP).
        for (var t = 0; t < 12; t++)
        {
            var tag = "{" + prefix + "u" + t.ToString(CultureInfo.InvariantCulture) + "}";
            Assert.True(await db.StringSetAsync([new(tag + "a", "1"), new(tag + "b", "2")]));
            Assert.Equal(["1", "2"], (await db.StringGetAsync([tag + "a", tag + "b"])).Select(v => (string?)v));
            var transaction = db.CreateTransaction();
            var incremented = transaction.StringIncrementAsync(tag + "a");
            var renamed = transaction.KeyRenameAsync(tag + "b", tag + "c");
            Assert.True(await transaction.ExecuteAsync());
            Assert.Equal(2, await incremented);
            Assert.True(await renamed);
            await db.SetAddAsync(tag + "s1", ["x", "y", "z"]);
            await db.SetAddAsync(tag + "s2", ["y", "z", "w"]);
            Assert.Equal(2, (long)(await db.ExecuteAsync("SINTERCARD", "2", tag + "s1", tag + "s2"))!);
            await db.ListRightPushAsync(tag + "l2", ["p", "q"]);
            var popped = await db.ListLeftPopAsync([tag + "l1", tag + "l2"], 5);
            Assert.Equal(tag + "l2", (string?)popped.Key);
            Assert.Equal(["p", "q"], popped.Values.Select(v => (string?)v));
        }
    }

    [Fact]
    public async Task Redis_cli_in_cluster_mode_sets_and_gets_keys_of_every_silo_and_checks_the_cluster()
    {
        var cli = ChildProcess.FindExecutable("redis-cli", "/usr/bin", "/usr/local/bin")
            ?? throw new InvalidOperationException("redis-cli is not installed (Debian package redis-tools)");
        await WaitForThreeNodesAsync();
        var port = fixture.Endpoints[0].Port.ToString(CultureInfo.InvariantCulture);
        var prefix = "cli:" + Guid.NewGuid().ToString("N") + ":";
        var keys = Enumerable.Range(0, 6).Select(i => prefix + i.ToString(CultureInfo.InvariantCulture)).ToList();
        Assert.True(keys.Select(HashSlot.Of).Distinct().Count() > 1);
        foreach (var key in keys)
        {
            var set = await ChildProcess.RunAsync(cli, ["-c", "-p", port, "SET", key, key.Length.ToString(CultureInfo.InvariantCulture)], CliTimeout, default);
            Assert.Equal(0, set.ExitCode);
            Assert.Equal("OK", set.Output.Trim());
        }

        foreach (var (key, (_, other)) in keys.Zip(fixture.Endpoints.Concat(fixture.Endpoints)))
        {
            var get = await ChildProcess.RunAsync(cli, ["-c", "-p", other.ToString(CultureInfo.InvariantCulture), "GET", key], CliTimeout, default);
            Assert.Equal(0, get.ExitCode);
            Assert.Equal(key.Length.ToString(CultureInfo.InvariantCulture), get.Output.Trim());
        }

        var check = await ChildProcess.RunAsync(cli, ["--cluster", "check", "127.0.0.1:" + port], CliTimeout, default);
        output.WriteLine(check.Output);
        Assert.Equal(0, check.ExitCode);
        Assert.Contains("[OK] All nodes agree about slots configuration.", check.Output, StringComparison.Ordinal);
        Assert.Contains("[OK] All 16384 slots covered.", check.Output, StringComparison.Ordinal);
    }

    [Fact]
    public async Task Key_slots_are_those_of_redis_server_in_cluster_mode()
    {
        await using var server = await RedisServer.StartAsync("cluster-enabled yes\ncluster-config-file nodes.conf");
        await using var theirs = await RespWire.ConnectAsync(server.Port);
        Assert.Equal("+OK\r\n", await theirs.CallTextAsync("AUTH", server.Password));
        await using var ours = await RespWire.ConnectAsync(fixture.Endpoints[1].Port);
        var random = new Random(2121);
        var keys = new List<string> { "", "{", "}", "{}", "{}x", "x{}", "{a}", "a{b}c{d}", "foo{}{bar}", "foo{{bar}}zap", "foo{bar}{zap}", "{user1000}.following", "123456789", "ключ{тег}", "日本{語}", "a{b" };
        for (var i = 0; i < 200; i++)
        {
            var text = new StringBuilder();
            for (var c = random.Next(0, 12); c > 0; c--)
            {
                text.Append("ab{}xyz0é€"[random.Next(10)]);
            }

            keys.Add(text.ToString());
        }

        foreach (var key in keys)
        {
            var expected = await theirs.CallTextAsync("CLUSTER", "KEYSLOT", key);
            Assert.StartsWith(":", expected, StringComparison.Ordinal);
            Assert.Equal(expected, await ours.CallTextAsync("CLUSTER", "KEYSLOT", key));
            Assert.Equal(expected, $":{HashSlot.Of(key)}\r\n");
        }
    }

    [Fact]
    public async Task A_write_through_cache_defined_before_hash_slots_keeps_its_keys_and_a_reshard_moves_it_to_slots()
    {
        // The definition as a silo without hash slots stored it: no placement field (so whole-key placement).
        var name = "legacy-" + Guid.NewGuid().ToString("N")[..12];
        var silo = fixture.Cluster.Silos.OfType<InProcessSiloHandle>().First().SiloHost.Services;
        var storage = silo.GetRequiredKeyedService<IGrainStorage>(GranaryStorage.Default);
        var stored = new GrainState<CacheDefinitionState>(new CacheDefinitionState
        {
            Shards = 4,
            Version = 1,
            VirtualNodesPerShard = 160,
            Settings = new CacheSettings(CachePersistence.WriteThrough),
        });
        await storage.WriteStateAsync("cache-definition", GrainId.Create("granary.caching.cache-definition", name), stored);

        await using var cache = await CacheClient.ConnectAsync(fixture.Grains, name);
        Assert.Equal(CacheKeyPlacement.WholeKey, cache.Definition.Placement);
        var keys = Enumerable.Range(0, 200).Select(i => "k" + i.ToString(CultureInfo.InvariantCulture)).ToList();
        await Task.WhenAll(keys.Select(k => cache.SetAsync(k, "v-" + k)));
        var wholeKey = cache.Definition.BuildMap();
        var slots = CacheShardMap.Create(4, 160, 1, CacheKeyPlacement.HashSlots);
        Assert.True(keys.Count(k => wholeKey.ShardOf(k) != slots.ShardOf(k)) > 100, "most keys sit elsewhere under hash slots");

        // The shards reload from storage (the silo restarted): every key is where its placement says.
        for (var shard = 0; shard < 4; shard++)
        {
            await fixture.SiloGrains.GetGrain<ICacheShardGrain>(CacheDefinition.ShardKey(name, shard)).DeactivateAsync();
        }

        await Eventually.TrueAsync("every shard reloaded its keys", async () => (await cache.GetStatisticsAsync()).KeysLoaded >= keys.Count, Settle);
        Assert.All(await Task.WhenAll(keys.Select(async k => (k, v: await cache.GetAsync(k)))), p => Assert.Equal("v-" + p.k, p.v));

        // A reshard to the same count moves the cache to hash slots; the keys stay readable, tags now share a shard.
        var result = await fixture.Grains.GetGrain<ICacheDefinitionGrain>(name).ReshardAsync(4);
        output.WriteLine($"reshard to hash slots moved {result.KeysMoved} of {result.KeysBefore} keys");
        Assert.Equal(CacheKeyPlacement.HashSlots, result.Definition.Placement);
        Assert.True(result.KeysMoved > 100);
        Assert.All(await Task.WhenAll(keys.Select(async k => (k, v: await cache.GetAsync(k)))), p => Assert.Equal("v-" + p.k, p.v));
        Assert.Equal(CacheKeyPlacement.HashSlots, cache.Definition.Placement);
        for (var t = 0; t < 8; t++)
        {
            var tag = "{t" + t.ToString(CultureInfo.InvariantCulture) + "}";
            await cache.SetAsync(tag + "from", "x");
            Assert.Equal(CacheReply.Ok, await cache.ExecuteAsync(["RENAME", tag + "from", tag + "to"]));
        }
    }

    private async Task<ConnectionMultiplexer> ConnectAsync()
    {
        await WaitForThreeNodesAsync();
        var options = new ConfigurationOptions { AbortOnConnectFail = true };
        foreach (var (_, port) in fixture.Endpoints)
        {
            options.EndPoints.Add(IPAddress.Loopback, port);
        }

        options.CommandMap = CommandMap.Create(new HashSet<string> { "SUBSCRIBE", "PSUBSCRIBE", "SSUBSCRIBE" }, available: false);
        var log = new StringWriter();
        try
        {
            return await ConnectionMultiplexer.ConnectAsync(options, log);
        }
        finally
        {
            output.WriteLine(log.ToString());
        }
    }

    /// <summary>Endpoints announce themselves when their silo starts: wait until every silo lists all three.</summary>
    private async Task WaitForThreeNodesAsync()
    {
        foreach (var (_, port) in fixture.Endpoints)
        {
            await Eventually.TrueAsync($"the endpoint on port {port} lists 3 nodes", async () =>
            {
                await using var wire = await RespWire.ConnectAsync(port);
                var nodes = await wire.CallTextAsync("CLUSTER", "NODES");
                return nodes.Split('\n').Count(l => l.Contains(" master ", StringComparison.Ordinal) || l.Contains("myself,master", StringComparison.Ordinal)) == 3;
            }, Settle);
        }
    }
}
