using System.Globalization;
using Granary.Caching;
using Granary.Client.Caching;
using Granary.Server.Resp;
using Granary.Tests.Cluster.Infrastructure;
using Microsoft.Extensions.DependencyInjection;
using Orleans.TestingHost;

namespace Granary.Tests.Cluster.Resp;

/// <summary>
/// One in-process silo with memory storage and the RESP endpoint, serving three caches: a volatile one,
/// a volatile one that a near-cache client subscribes to, and a write-through one.
/// </summary>
public sealed class DirectLocalCommandsFixture : GranaryTestClusterFixture
{
    /// <summary>Database 0: volatile, takes direct commands.</summary>
    public const string Volatile = "direct-volatile";

    /// <summary>Database 1: volatile, with a near-cache subscriber.</summary>
    public const string Subscribed = "direct-subscribed";

    /// <summary>Database 2: write-through.</summary>
    public const string Durable = "direct-durable";

    /// <summary>Database 3: volatile, resharded by a test.</summary>
    public const string Resharded = "direct-resharded";

    /// <summary>Shards of each cache.</summary>
    public const int Shards = 4;

    /// <summary>The silo's RESP endpoint.</summary>
    internal RespEndpoint Endpoint => Silo.SiloHost.Services.GetRequiredService<RespEndpoint>();

    /// <summary>The silo's registry of shards that take direct commands.</summary>
    public LocalCacheShards LocalShards => Silo.SiloHost.Services.GetRequiredService<LocalCacheShards>();

    private InProcessSiloHandle Silo => Cluster.Silos.OfType<InProcessSiloHandle>().First();

    /// <summary>Opens a raw connection to the endpoint, on <paramref name="database"/>.</summary>
    public async Task<RespWire> ConnectAsync(int database)
    {
        var wire = await RespWire.ConnectAsync(Endpoint.LocalEndPoint!.Port);
        Assert.Equal("+OK\r\n", await wire.CallTextAsync("SELECT", database.ToString(CultureInfo.InvariantCulture)));
        return wire;
    }

    /// <inheritdoc/>
    public override async Task InitializeAsync()
    {
        await base.InitializeAsync();
        await using var volatileCache = await CacheClient.CreateAsync(Grains, Volatile, Shards, new CacheSettings(CachePersistence.Volatile));
        await using var subscribed = await CacheClient.CreateAsync(Grains, Subscribed, Shards, new CacheSettings(CachePersistence.Volatile));
        await using var durable = await CacheClient.CreateAsync(Grains, Durable, Shards, new CacheSettings(CachePersistence.WriteThrough, EvictionPolicy.NoEviction));
        await using var resharded = await CacheClient.CreateAsync(Grains, Resharded, Shards, new CacheSettings(CachePersistence.Volatile));

        // A shard is activated by its first grain call (DBSIZE calls every shard); from then on it takes direct commands.
        await volatileCache.ExecuteAsync(["DBSIZE"]);
        await subscribed.ExecuteAsync(["DBSIZE"]);
        await resharded.ExecuteAsync(["DBSIZE"]);
    }

    /// <inheritdoc/>
    protected override short InitialSilos => 1;

    /// <inheritdoc/>
    protected override Task ConfigureAsync(TestClusterBuilder builder)
    {
        ArgumentNullException.ThrowIfNull(builder);
        builder.Properties["Granary:Storage:Mode"] = "Memory";
        builder.Properties["Granary:Resp:Port"] = "0";
        builder.Properties["Granary:Resp:Databases:0"] = Volatile;
        builder.Properties["Granary:Resp:Databases:1"] = Subscribed;
        builder.Properties["Granary:Resp:Databases:2"] = Durable;
        builder.Properties["Granary:Resp:Databases:3"] = Resharded;
        return Task.CompletedTask;
    }
}

/// <summary>
/// The endpoint runs commands on a volatile shard of its own silo without a grain call, and that
/// path never interleaves with the shard's grain calls; shards that cannot take direct commands get
/// grain calls as before.
/// </summary>
public sealed class DirectLocalCommandsTests(DirectLocalCommandsFixture fixture) : IClassFixture<DirectLocalCommandsFixture>
{
    [Fact]
    public async Task A_volatile_shard_of_the_endpoints_silo_runs_the_connections_commands_without_grain_calls()
    {
        await using var wire = await fixture.ConnectAsync(0);
        var prefix = "local:" + Guid.NewGuid().ToString("N") + ":";

        // A shard is activated by its first grain call; DBSIZE calls every shard.
        Assert.StartsWith(":", await wire.CallTextAsync("DBSIZE"), StringComparison.Ordinal);
        var cache = await fixture.Endpoint.CacheAsync(0);
        var (callsBefore, _) = cache.BatchingCounters;
        var localBefore = cache.LocalCommands;

        // One at a time and pipelined, over every shard.
        for (var i = 0; i < 20; i++)
        {
            Assert.Equal("+OK\r\n", await wire.CallTextAsync("SET", prefix + i, "v" + i));
        }

        await wire.SendAsync(Enumerable.Range(0, 20).Select(i => new[] { "GET", prefix + i }));
        for (var i = 0; i < 20; i++)
        {
            var value = "v" + i.ToString(CultureInfo.InvariantCulture);
            Assert.Equal($"${value.Length}\r\n{value}\r\n", System.Text.Encoding.ASCII.GetString(await wire.ReadReplyAsync()));
        }

        Assert.Equal(callsBefore, cache.BatchingCounters.Calls);
        Assert.True(cache.LocalCommands - localBefore >= 40, $"{cache.LocalCommands - localBefore} direct commands, expected 40");

        // What the endpoint wrote directly, an external client reads through the grain calls.
        await using var external = await CacheClient.ConnectAsync(fixture.Grains, DirectLocalCommandsFixture.Volatile);
        Assert.Equal("v7", await external.GetAsync(prefix + 7));
    }

    [Fact]
    public async Task Direct_commands_and_grain_calls_on_one_shard_never_interleave()
    {
        const int Rounds = 40;
        const int PerRound = 200;
        const int Writers = 3;
        var prefix = "race:" + Guid.NewGuid().ToString("N") + ":";
        var counter = prefix + "counter";
        await using (var warm = await fixture.ConnectAsync(0))
        {
            Assert.StartsWith(":", await warm.CallTextAsync("DBSIZE"), StringComparison.Ordinal);
        }

        var cache = await fixture.Endpoint.CacheAsync(0);
        var localBefore = cache.LocalCommands;
        await using var external = await CacheClient.ConnectAsync(fixture.Grains, DirectLocalCommandsFixture.Volatile);
        var (externalCallsBefore, _) = external.BatchingCounters;

        // Each writer increments one shared key and adds keys of its own (the shard's tables grow while both
        // paths write); connections pipeline theirs (direct), an external client sends its own (grain calls).
        static string[][] Round(string prefix, string counter, string writer, int round) =>
            [.. Enumerable.Range(0, PerRound).Select(i => i % 2 == 0 ? new[] { "INCR", counter } : ["SET", $"{prefix}{writer}:{round}:{i}", "v"])];

        async Task ThroughTheEndpointAsync(string writer)
        {
            await using var wire = await fixture.ConnectAsync(0);
            for (var round = 0; round < Rounds; round++)
            {
                await wire.SendAsync(Round(prefix, counter, writer, round));
                for (var i = 0; i < PerRound; i++)
                {
                    Assert.Contains((char)(await wire.ReadReplyAsync())[0], ":+");
                }
            }
        }

        async Task ThroughGrainCallsAsync(string writer)
        {
            for (var round = 0; round < Rounds; round++)
            {
                var replies = await Task.WhenAll(Round(prefix, counter, writer, round).Select(c => external.ExecuteAsync(c)));
                Assert.All(replies, r => Assert.False(r.IsError, r.Text));
            }
        }

        await Task.WhenAll(Enumerable.Range(0, Writers).SelectMany(w => new[]
        {
            Task.Run(() => ThroughTheEndpointAsync("e" + w)),
            Task.Run(() => ThroughGrainCallsAsync("g" + w)),
        }));

        Assert.Equal((2 * Writers * Rounds * PerRound / 2).ToString(CultureInfo.InvariantCulture), await external.GetAsync(counter));
        var keys = Enumerable.Range(0, Writers).SelectMany(w => new[] { "e" + w, "g" + w })
            .SelectMany(writer => Enumerable.Range(0, Rounds).SelectMany(round => Enumerable.Range(0, PerRound).Where(i => i % 2 == 1).Select(i => $"{prefix}{writer}:{round}:{i}")))
            .ToArray();
        var values = await Task.WhenAll(keys.Chunk(500).Select(chunk => external.ExecuteAsync(["MGET", .. chunk])));
        Assert.All(values.SelectMany(v => v.Items!), v => Assert.Equal("v", v.Text));
        Assert.True(cache.LocalCommands - localBefore >= Writers * Rounds * PerRound, "the endpoint's commands ran directly");
        Assert.True(external.BatchingCounters.Calls > externalCallsBefore, "the external client's commands were grain calls");
    }

    [Fact]
    public async Task A_shard_with_a_near_cache_subscriber_stops_taking_direct_commands_and_loses_nothing()
    {
        await using var wire = await fixture.ConnectAsync(1);
        var prefix = "near:" + Guid.NewGuid().ToString("N") + ":";
        Assert.StartsWith(":", await wire.CallTextAsync("DBSIZE"), StringComparison.Ordinal);
        for (var i = 0; i < 8; i++)
        {
            Assert.Equal("+OK\r\n", await wire.CallTextAsync("SET", prefix + i, "before"));
        }

        var cache = await fixture.Endpoint.CacheAsync(1);
        Assert.True(cache.LocalCommands >= 8, "before the subscription the endpoint's commands ran directly");

        // A near-cache client subscribes to every shard: their writes must now notify it, which only the grain does.
        await using var near = await CacheClient.ConnectAsync(fixture.Grains, DirectLocalCommandsFixture.Subscribed, new CacheClientOptions { NearCache = true });
        Assert.Equal("before", await near.GetAsync(prefix + 3));
        var localAfterSubscribe = cache.LocalCommands;
        var (callsAfterSubscribe, _) = cache.BatchingCounters;
        for (var i = 0; i < 8; i++)
        {
            Assert.Equal("+OK\r\n", await wire.CallTextAsync("SET", prefix + i, "after"));
        }

        Assert.Equal(localAfterSubscribe, cache.LocalCommands);
        Assert.True(cache.BatchingCounters.Calls >= callsAfterSubscribe + 8, "the endpoint's commands went through grain calls");
        for (var i = 0; i < 8; i++)
        {
            Assert.Equal("$5\r\nafter\r\n", await wire.CallTextAsync("GET", prefix + i));
            Assert.Equal("after", await near.GetAsync(prefix + i));
        }
    }

    [Fact]
    public async Task Pipelined_direct_writes_during_a_reshard_are_all_kept_in_order()
    {
        // Each pipeline increments a counter and sets a key per step; halfway a reshard to more shards moves
        // keys, so the next direct batches are answered MOVED and go again on the new ring.
        const int Pipelines = 60;
        const int Depth = 32;
        var prefix = "resharded:" + Guid.NewGuid().ToString("N") + ":";
        await using var wire = await fixture.ConnectAsync(3);
        var cache = await fixture.Endpoint.CacheAsync(3);
        var version = cache.Definition.Version;
        var movedBefore = cache.MovedReplies;
        var halfway = new TaskCompletionSource(TaskCreationOptions.RunContinuationsAsynchronously);
        var resharded = new TaskCompletionSource(TaskCreationOptions.RunContinuationsAsynchronously);
        var writes = Task.Run(async () =>
        {
            for (var p = 0; p < Pipelines; p++)
            {
                if (p == Pipelines / 2)
                {
                    // Half the pipelines on the old ring, the rest sent by a client still routing by it.
                    halfway.SetResult();
                    await resharded.Task;
                }

                await wire.SendAsync(Enumerable.Range(0, Depth).Select(i => i % 2 == 0
                    ? new[] { "INCR", prefix + "counter" }
                    : ["SET", $"{prefix}{p}:{i}", $"{p}:{i}"]));
                for (var i = 0; i < Depth; i++)
                {
                    var reply = System.Text.Encoding.ASCII.GetString(await wire.ReadReplyAsync());
                    Assert.Equal(i % 2 == 0 ? $":{(p * Depth / 2) + (i / 2) + 1}\r\n" : "+OK\r\n", reply);
                }
            }
        });
        await halfway.Task.WaitAsync(TimeSpan.FromSeconds(60));
        var result = await fixture.SiloGrains.GetGrain<ICacheDefinitionGrain>(DirectLocalCommandsFixture.Resharded).ReshardAsync(DirectLocalCommandsFixture.Shards * 2);
        resharded.SetResult();
        await writes.WaitAsync(TimeSpan.FromSeconds(60));

        Assert.True(result.Definition.Version > version);
        Assert.True(result.KeysMoved > 0, "the reshard moved keys");
        Assert.True(cache.MovedReplies > movedBefore, "the endpoint's direct batches met the new ring (MOVED) and went again");
        await using var external = await CacheClient.ConnectAsync(fixture.Grains, DirectLocalCommandsFixture.Resharded);
        Assert.Equal((Pipelines * Depth / 2).ToString(CultureInfo.InvariantCulture), await external.GetAsync(prefix + "counter"));
        for (var p = 0; p < Pipelines; p++)
        {
            var keys = Enumerable.Range(0, Depth).Where(i => i % 2 == 1).Select(i => $"{prefix}{p}:{i}").ToArray();
            var values = await external.ExecuteAsync(["MGET", .. keys]);
            Assert.Equal(keys.Select(k => k[prefix.Length..]), values.Items!.Select(v => v.Text));
        }
    }

    [Fact]
    public async Task A_pipeline_runs_its_leading_local_commands_directly_one_batch_per_run_of_a_shard_and_the_rest_in_order()
    {
        // A client whose "local" shards are all but one, recording the batches it is given.
        var name = "prefix-" + Guid.NewGuid().ToString("N")[..12];
        await using (await CacheClient.CreateAsync(fixture.Grains, name, DirectLocalCommandsFixture.Shards, new CacheSettings(CachePersistence.Volatile)))
        {
        }

        var definition = (await fixture.Grains.GetGrain<ICacheDefinitionGrain>(name).PeekAsync())!;
        var map = definition.BuildMap();
        string KeyOn(int shard, string tag) => Enumerable.Range(0, 10_000).Select(i => $"{tag}:{i}").First(k => map.ShardOf(k) == shard);
        const int Remote = 3;
        var shards = new RecordingShards(local: shard => shard != Remote);
        await using var cache = await CacheClient.ConnectAsync(fixture.Grains, name, new CacheClientOptions { LocalShards = shards });
        string[][] commands =
        [
            ["SET", KeyOn(0, "a"), "1"],
            ["GET", KeyOn(0, "b")],
            ["SET", KeyOn(1, "c"), "2"],
            ["SET", KeyOn(Remote, "d"), "3"],
            ["GET", KeyOn(0, "e")],
        ];

        var replies = await cache.ExecuteInOrderAsync(commands);

        // The prefix: shard 0's run as one batch, then shard 1's; the remote shard's command and all after it took
        // the ordered path (a grain call for the remote shard; the local one again without a grain call).
        Assert.Equal([(0, 2), (1, 1), (0, 1)], shards.Batches.Select(b => (b.Shard, b.Count)));
        Assert.Equal("local:SET", replies[0].Text);
        Assert.Equal("local:GET", replies[1].Text);
        Assert.Equal("local:SET", replies[2].Text);
        Assert.Equal(CacheReplyKind.Status, replies[3].Kind);
        Assert.Equal("local:GET", replies[4].Text);
        Assert.Equal(4, cache.LocalCommands);
        Assert.Equal(1, cache.BatchingCounters.Commands);

        // A command that spans shards stops the prefix and runs in its place.
        shards.Batches.Clear();
        replies = await cache.ExecuteInOrderAsync([["GET", KeyOn(1, "f")], ["DBSIZE"], ["GET", KeyOn(1, "g")]]);
        Assert.Equal("local:GET", replies[0].Text);
        Assert.Equal(CacheReplyKind.Integer, replies[1].Kind);
        Assert.Equal("local:GET", replies[2].Text);
        Assert.Equal((1, 1), (shards.Batches[0].Shard, shards.Batches[0].Count));
    }

    [Fact]
    public async Task A_write_through_shard_never_takes_direct_commands()
    {
        await using var wire = await fixture.ConnectAsync(2);
        var prefix = "durable:" + Guid.NewGuid().ToString("N") + ":";
        var cache = await fixture.Endpoint.CacheAsync(2);
        var (callsBefore, _) = cache.BatchingCounters;
        await wire.SendAsync(Enumerable.Range(0, 16).Select(i => new[] { "SET", prefix + i, "x" }));
        for (var i = 0; i < 16; i++)
        {
            Assert.Equal("+OK\r\n", System.Text.Encoding.ASCII.GetString(await wire.ReadReplyAsync()));
        }

        Assert.Equal(0, cache.LocalCommands);
        Assert.True(cache.BatchingCounters.Calls > callsBefore);
    }

    private sealed class RecordingShards(Func<int, bool> local) : ILocalCacheShards
    {
        public List<(int Shard, int Count)> Batches { get; } = [];

        public bool TryExecute(string cache, int shard, ReadOnlySpan<string[]> commands, Span<CacheReply> replies, long ringVersion)
        {
            if (!local(shard))
            {
                return false;
            }

            lock (Batches)
            {
                Batches.Add((shard, commands.Length));
            }

            for (var i = 0; i < commands.Length; i++)
            {
                replies[i] = CacheReply.Bulk("local:" + commands[i][0]);
            }

            return true;
        }
    }

    /// <summary>The replies of <paramref name="command"/> run directly on a shard of the volatile cache; null when it does not take it.</summary>
    private CacheReply[]? Direct(int shard, string[] command, long ringVersion)
    {
        var replies = new CacheReply[1];
        return fixture.LocalShards.TryExecute(DirectLocalCommandsFixture.Volatile, shard, [command], replies, ringVersion) ? replies : null;
    }

    [Fact]
    public async Task A_deactivated_shard_leaves_the_registry_and_its_successor_takes_direct_commands_again()
    {
        await using var wire = await fixture.ConnectAsync(0);
        var key = "moved-on:" + Guid.NewGuid().ToString("N");
        Assert.Equal("+OK\r\n", await wire.CallTextAsync("SET", key, "1"));
        var cache = await fixture.Endpoint.CacheAsync(0);
        var shard = cache.Definition.BuildMap().ShardOf(key);
        var registered = Direct(shard, ["EXISTS", key], cache.Definition.Version);
        Assert.NotNull(registered);
        Assert.Equal(1, registered[0].Integer);

        // From inside the silo (the method is internal); a volatile shard's keys go with its activation.
        await fixture.SiloGrains.GetGrain<ICacheShardGrain>(CacheDefinition.ShardKey(DirectLocalCommandsFixture.Volatile, shard)).DeactivateAsync();
        await Eventually.TrueAsync(
            "the deactivated shard left the registry",
            () => Task.FromResult(Direct(shard, ["EXISTS", key], cache.Definition.Version) is null or [{ Integer: 0 }]),
            TimeSpan.FromSeconds(30));

        // The next command activates a new shard (a grain call), which registers itself; later ones run directly.
        Assert.Equal(":0\r\n", await wire.CallTextAsync("EXISTS", key));
        Assert.Equal("+OK\r\n", await wire.CallTextAsync("SET", key, "2"));
        await Eventually.TrueAsync(
            "the new activation takes direct commands",
            () => Task.FromResult(Direct(shard, ["GET", key], cache.Definition.Version) is [{ Text: "2" }]),
            TimeSpan.FromSeconds(30));
    }
}
