using System.Collections.Concurrent;
using System.Diagnostics;
using System.Globalization;
using Granary.Caching;
using Granary.Client.Caching;
using Granary.Resp;
using Granary.Tests.Cluster.Infrastructure;
using StackExchange.Redis;
using Xunit.Abstractions;

namespace Granary.Tests.Cluster.Resp;

/// <summary>
/// Silo loss seen through the RESP endpoint: StackExchange.Redis pipelines SETs (many in flight on one
/// connection) into a write-through cache over a surviving silo's endpoint while the silo hosting one
/// of the cache's shards is SIGKILLed. Every SET the endpoint answered <c>OK</c> reads back afterwards
/// over the endpoint; a SET that failed or timed out may or may not have landed.
/// </summary>
[Collection(ServersCollection.Name)]
public sealed class RespSiloLossTests(SharedServersFixture servers, ITestOutputHelper output)
{
    private const int Shards = 4;
    private const int Writers = 32;
    private static readonly TimeSpan RunBound = TimeSpan.FromSeconds(60);

    [Fact]
    public async Task Every_acknowledged_pipelined_write_reads_back_after_the_shards_silo_is_sigkilled()
    {
        var prefix = "rloss" + Guid.NewGuid().ToString("N")[..8];
        var databases = Enumerable.Range(0, 2).Select(i => servers.Postgres.ConnectionString($"{prefix}_shard_{i}")).ToList();
        await using var cluster = await StandaloneCluster.StartAsync(new StandaloneClusterOptions
        {
            RedisConnectionString = servers.Redis.ConnectionString,
            Shards = databases,
            Silos = 3,
            Settings = new Dictionary<string, string>(StringComparer.Ordinal) { ["Granary:Resp:Port"] = "0" },
        });

        // Database 0 of every endpoint is the cache named "default".
        await using var cache = await CacheClient.CreateAsync(cluster.Grains, "default", Shards, new CacheSettings(CachePersistence.WriteThrough, EvictionPolicy.NoEviction));
        var shard0 = cluster.Grains.GetGrain<ICacheShardGrain>(CacheDefinition.ShardKey("default", 0));
        await shard0.GetStatisticsAsync(); // activates it, so it has a host to kill
        var victim = await cluster.FindHostAsync(shard0);
        Assert.NotNull(victim);
        var endpoints = await cluster.Grains.GetGrain<IRespNodeDirectoryGrain>(0).ListAsync();
        var survivor = endpoints.FirstOrDefault(n => n.Silo.Endpoint.Port != victim.SiloPort)
            ?? throw new InvalidOperationException($"no RESP endpoint of a silo other than {victim} is listed: {string.Join(", ", endpoints.Select(e => e.ToString()))}");

        var options = ConfigurationOptions.Parse($"127.0.0.1:{survivor.Port.ToString(CultureInfo.InvariantCulture)},abortConnect=false,asyncTimeout=5000,syncTimeout=5000");
        options.CommandMap = CommandMap.Create(new HashSet<string> { "SUBSCRIBE", "PSUBSCRIBE", "SSUBSCRIBE" }, available: false);
        await using var redis = await ConnectionMultiplexer.ConnectAsync(options);
        var db = redis.GetDatabase();

        var clock = Stopwatch.StartNew();
        var acked = new ConcurrentDictionary<string, string>(StringComparer.Ordinal);
        var errors = new ConcurrentDictionary<string, int>(StringComparer.Ordinal);
        using var stop = new CancellationTokenSource();

        async Task WriteAsync(int writer)
        {
            for (var seq = 0; !stop.IsCancellationRequested && clock.Elapsed < RunBound; seq++)
            {
                var key = string.Create(CultureInfo.InvariantCulture, $"w{writer}-{seq}");
                var value = string.Create(CultureInfo.InvariantCulture, $"value-{writer}-{seq}");
                try
                {
                    if (await db.StringSetAsync(key, value))
                    {
                        acked[key] = value;
                    }
                }
                catch (Exception ex) when (ex is RedisException or TimeoutException)
                {
                    errors.AddOrUpdate(ex.GetType().Name, 1, (_, n) => n + 1);
                }
            }
        }

        var writers = Enumerable.Range(0, Writers).Select(w => Task.Run(() => WriteAsync(w))).ToList();
        await RunUntilAsync("1000 writes acknowledged before the kill", () => acked.Count >= 1000, RunBound - clock.Elapsed);
        var ackedAtKill = acked.Count;
        await cluster.KillAsync(victim);
        output.WriteLine($"SIGKILL {victim} (hosting default/0) at {clock.Elapsed.TotalSeconds:F1} s with {ackedAtKill} SETs acknowledged; client on the endpoint of {survivor.Silo}");
        await RunUntilAsync("1000 more writes acknowledged after the kill", () => acked.Count >= ackedAtKill + 1000, RunBound - clock.Elapsed);
        await stop.CancelAsync();
        await Task.WhenAll(writers);

        var lost = new List<string>();
        foreach (var chunk in acked.Keys.Chunk(500))
        {
            var values = await db.StringGetAsync([.. chunk.Select(k => (RedisKey)k)]);
            for (var i = 0; i < chunk.Length; i++)
            {
                if (values[i] != acked[chunk[i]])
                {
                    lost.Add($"{chunk[i]}: expected {acked[chunk[i]]}, read {(values[i].IsNull ? "(nil)" : values[i].ToString())}");
                }
            }
        }

        output.WriteLine($"acknowledged {acked.Count} ({ackedAtKill} before the kill) in {clock.Elapsed.TotalSeconds:F1} s, lost {lost.Count}; errors: {string.Join(", ", errors.Select(e => $"{e.Key}={e.Value}"))}");
        foreach (var line in lost.Take(10))
        {
            output.WriteLine(line);
        }

        Assert.True(acked.Count > ackedAtKill, "SETs were acknowledged after the kill");
        Assert.Empty(lost);
    }

    /// <summary>Lets the writers run until <paramref name="enough"/> holds or the run's bound passes; the assertions judge what they did.</summary>
    private static async Task RunUntilAsync(string what, Func<bool> enough, TimeSpan bound)
    {
        try
        {
            await Eventually.TrueAsync(what, enough, bound > TimeSpan.Zero ? bound : TimeSpan.FromMilliseconds(1));
        }
        catch (TimeoutException)
        {
            // The run is bounded, not the count: a slow machine acknowledges fewer writes.
        }
    }
}
