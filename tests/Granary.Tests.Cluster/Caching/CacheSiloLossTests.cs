using System.Collections.Concurrent;
using System.Diagnostics;
using System.Globalization;
using Granary.Caching;
using Granary.Client.Caching;
using Granary.Tests.Cluster.Infrastructure;
using Orleans.Concurrency;
using Xunit.Abstractions;

namespace Granary.Tests.Cluster.Caching;

/// <summary>
/// TestCluster silo processes with PostgreSQL shards; the silo hosting a write-through shard is SIGKILLed
/// while writers run against a write-through cache and a (resharded) volatile cache. Write-through:
/// every acknowledged SET reads back. Volatile: the shards that lived on the dead silo come back
/// empty, refuse clients routing by an older ring, and no read ever returns a value older than one
/// already acknowledged.
/// </summary>
[Collection(ServersCollection.Name)]
public class CacheSiloLossTests(SharedServersFixture servers, ITestOutputHelper output)
{
    /// <summary>Extra silo and client settings of the cluster (the TLS subclass adds its certificates).</summary>
    protected virtual IEnumerable<KeyValuePair<string, string>> ClusterSettings => [];

    private const int Shards = 4;
    private const int Writers = 12;
    private const int VolatileWriters = 4;
    private const int ColdKeys = 2000;
    private const int HotKeysPerWriter = 50;
    private static readonly TimeSpan CallTimeout = TimeSpan.FromSeconds(5);
    private static readonly TimeSpan RunBound = TimeSpan.FromSeconds(60);

    // Calls stuck on the dead silo free their shard's call slots after 2 s instead of Orleans' 30 s.
    private static readonly CacheClientOptions ClientOptions = new() { CallTimeout = TimeSpan.FromSeconds(2) };

    [Fact]
    public async Task Write_through_loses_no_acknowledged_write_and_volatile_comes_back_empty_after_sigkill()
    {
        var prefix = "closs" + Guid.NewGuid().ToString("N")[..8];
        var databases = Enumerable.Range(0, 2).Select(i => servers.Postgres.ConnectionString($"{prefix}_shard_{i}")).ToList();
        await using var cluster = await StandaloneCluster.StartAsync(new StandaloneClusterOptions
        {
            RedisConnectionString = servers.Redis.ConnectionString,
            Shards = databases,
            Silos = 3,
            Settings = new Dictionary<string, string>(ClusterSettings, StringComparer.Ordinal),
        });

        await using var durable = await CacheClient.CreateAsync(cluster.Grains, "orders", Shards, new CacheSettings(CachePersistence.WriteThrough, EvictionPolicy.NoEviction), ClientOptions);
        await using var volatileCache = await CacheClient.CreateAsync(cluster.Grains, "sessions", Shards, new CacheSettings(CachePersistence.Volatile, EvictionPolicy.Lfu), ClientOptions);
        await Task.WhenAll(Enumerable.Range(0, ColdKeys).Select(i => volatileCache.SetAsync(Cold(i), "1")));

        // Resharded before the kill: the reactivated shard must refuse the first ring too.
        var reshard = await cluster.Grains.GetGrain<ICacheDefinitionGrain>("sessions").ReshardAsync(Shards + 1);
        await volatileCache.RefreshAsync();
        Assert.Equal(2, volatileCache.Definition.Version);
        output.WriteLine($"volatile cache resharded {Shards} -> {Shards + 1}: moved {reshard.KeysMoved} of {reshard.KeysBefore} keys");

        var clock = Stopwatch.StartNew();
        var acked = new ConcurrentDictionary<string, string>(StringComparer.Ordinal);
        var errors = new ConcurrentDictionary<string, int>(StringComparer.Ordinal);
        var volatileReads = 0L;
        var volatileNilReads = 0L;
        var staleReads = new ConcurrentBag<string>();
        using var stop = new CancellationTokenSource();

        void Count(Exception ex) => errors.AddOrUpdate(ex.GetType().Name, 1, (_, n) => n + 1);

        async Task WriteThroughAsync(int writer)
        {
            for (var seq = 0; !stop.IsCancellationRequested; seq++)
            {
                var key = string.Create(CultureInfo.InvariantCulture, $"w{writer}-{seq}");
                var value = string.Create(CultureInfo.InvariantCulture, $"value-{writer}-{seq}");
                while (!stop.IsCancellationRequested && clock.Elapsed < RunBound)
                {
                    try
                    {
                        // A retry writes the same key and value: idempotent.
                        await durable.SetAsync(key, value).WaitAsync(CallTimeout);
                        acked[key] = value;
                        break;
                    }
                    catch (Exception ex) when (ex is not OperationCanceledException)
                    {
                        Count(ex);
                    }
                }
            }
        }

        async Task VolatileAsync(int writer)
        {
            // This task is the only writer of its keys, one write at a time: a read may return the last
            // acknowledged value, the one being written, or nil (lost shard), never anything older.
            var lastAcked = new long[HotKeysPerWriter];
            var attempted = new long[HotKeysPerWriter];
            var unacknowledged = Enumerable.Range(0, HotKeysPerWriter).Select(_ => new HashSet<long>()).ToArray();
            for (var round = 1L; !stop.IsCancellationRequested; round++)
            {
                for (var k = 0; k < HotKeysPerWriter && !stop.IsCancellationRequested; k++)
                {
                    var key = Hot(writer, k);
                    try
                    {
                        var read = await volatileCache.GetAsync(key).WaitAsync(CallTimeout);
                        Interlocked.Increment(ref volatileReads);
                        if (read is null)
                        {
                            Interlocked.Increment(ref volatileNilReads);
                        }
                        else
                        {
                            var seen = long.Parse(read, CultureInfo.InvariantCulture);
                            // A write whose call timed out may still land late; only a value no such write explains is stale.
                            if ((seen < lastAcked[k] && !unacknowledged[k].Contains(seen)) || seen > attempted[k])
                            {
                                staleReads.Add($"{key}: read {seen}, last acknowledged {lastAcked[k]}, last attempted {attempted[k]}");
                            }
                        }

                        attempted[k] = round;
                        unacknowledged[k].Add(round);
                        await volatileCache.SetAsync(key, round.ToString(CultureInfo.InvariantCulture)).WaitAsync(CallTimeout);
                        unacknowledged[k].Remove(round);
                        lastAcked[k] = round;
                    }
                    catch (Exception ex) when (ex is not OperationCanceledException)
                    {
                        Count(ex);
                    }
                }
            }
        }

        var tasks = Enumerable.Range(0, Writers).Select(w => Task.Run(() => WriteThroughAsync(w)))
            .Concat(Enumerable.Range(0, VolatileWriters).Select(w => Task.Run(() => VolatileAsync(w))))
            .ToList();

        await WritersRunUntilAsync("1500 writes acknowledged before the kill", () => acked.Count >= 1500, RunBound - clock.Elapsed);

        // The victim hosts a write-through shard and as many volatile shards as possible (placement is random).
        var hosts = new List<(int Shard, StandaloneSilo Orders, StandaloneSilo? Sessions)>();
        for (var s = 0; s < Shards + 1; s++)
        {
            var orders = s < Shards ? await cluster.FindHostAsync(cluster.Grains.GetGrain<ICacheShardGrain>(CacheDefinition.ShardKey("orders", s))) : null;
            var sessions = await cluster.FindHostAsync(cluster.Grains.GetGrain<ICacheShardGrain>(CacheDefinition.ShardKey("sessions", s)));
            hosts.Add((s, orders!, sessions));
        }

        var victim = hosts.Where(h => h.Orders is not null).Select(h => h.Orders)
            .OrderByDescending(silo => hosts.Count(h => h.Sessions?.Index == silo.Index))
            .First();
        var durableShardIndex = hosts.First(h => h.Orders?.Index == victim.Index).Shard;
        var durableShard0 = cluster.Grains.GetGrain<ICacheShardGrain>(CacheDefinition.ShardKey("orders", durableShardIndex));
        var lostVolatileShards = hosts.Where(h => h.Sessions?.Index == victim.Index).Select(h => h.Shard).ToList();
        Assert.NotEmpty(lostVolatileShards);

        var ackedAtKill = acked.Count;
        var killedAt = clock.Elapsed;
        await cluster.KillAsync(victim);
        output.WriteLine($"SIGKILL {victim} (hosting orders/{durableShardIndex} and sessions shards [{string.Join(", ", lostVolatileShards)}]) at {killedAt.TotalSeconds:F1} s with {ackedAtKill} writes acknowledged");

        await WritersRunUntilAsync("1500 more writes acknowledged after the kill", () => acked.Count >= ackedAtKill + 1500, RunBound - clock.Elapsed);

        await stop.CancelAsync();
        await Task.WhenAll(tasks);
        var writeTime = clock.Elapsed;

        // Write-through: every acknowledged write reads back.
        var keys = acked.Keys.ToArray();
        var lost = new List<string>();
        foreach (var chunk in keys.Chunk(500))
        {
            var values = await durable.ExecuteAsync(["MGET", .. chunk]).WaitAsync(TimeSpan.FromSeconds(30));
            for (var i = 0; i < chunk.Length; i++)
            {
                if (values.Items![i].Text != acked[chunk[i]])
                {
                    lost.Add($"{chunk[i]}: expected {acked[chunk[i]]}, read {values.Items[i].Text ?? "(nil)"}");
                }
            }
        }

        var reloaded = await durableShard0.GetStatisticsAsync();
        var newHost = await cluster.FindHostAsync(durableShard0);

        // Volatile: cold keys (never rewritten) on the lost shards are gone. A shard is lost whole or
        // not at all; besides the dead silo's own shards, Orleans also deactivates activations whose
        // grain-directory entry lived on the dead silo, so a shard elsewhere may be emptied too.
        var map = volatileCache.Definition.BuildMap();
        var coldValues = await volatileCache.ExecuteAsync(["MGET", .. Enumerable.Range(0, ColdKeys).Select(Cold)]);
        var perShard = Enumerable.Range(0, ColdKeys)
            .GroupBy(i => map.ShardOf(Cold(i)))
            .ToDictionary(g => g.Key, g => (Total: g.Count(), Intact: g.Count(i => coldValues.Items![i].Text == "1"), Nil: g.Count(i => coldValues.Items![i].IsNil)));
        var emptied = perShard.Where(p => p.Value.Nil == p.Value.Total).Select(p => p.Key).Order().ToList();
        var survivors = perShard.Where(p => p.Value.Intact == p.Value.Total).Select(p => p.Key).Order().ToList();
        var coldOnLost = lostVolatileShards.Sum(s => perShard[s].Total);
        var coldOnLostNil = lostVolatileShards.Sum(s => perShard[s].Nil);

        var oldRingRefusals = 0;
        foreach (var s in lostVolatileShards)
        {
            var shard = cluster.Grains.GetGrain<ICacheShardGrain>(CacheDefinition.ShardKey("sessions", s));
            var reply = (await shard.ExecuteAsync(new[] { new[] { "GET", Cold(0) } }.AsImmutable(), ringVersion: 1)).Value[0];
            oldRingRefusals += reply.IsMoved ? 1 : 0;
        }

        output.WriteLine($"write-through: acked {acked.Count} ({ackedAtKill} before the kill), lost={lost.Count}; orders/{durableShardIndex} reloaded {reloaded.KeysLoaded} keys on {newHost}; writes ran {writeTime.TotalSeconds:F1} s");
        output.WriteLine($"volatile: shards on the dead silo [{string.Join(", ", lostVolatileShards)}] came back empty: {coldOnLostNil} of {coldOnLost} cold keys on them read nil; {oldRingRefusals} of {lostVolatileShards.Count} reactivated shards refuse ring version 1");
        output.WriteLine($"volatile: shards emptied [{string.Join(", ", emptied)}], intact [{string.Join(", ", survivors)}] of {Shards + 1}");

        output.WriteLine($"volatile reads: {volatileReads} ({volatileNilReads} nil after the loss), stale={staleReads.Count}");
        output.WriteLine($"errors retried: {string.Join(", ", errors.Select(e => $"{e.Key}={e.Value}"))}");
        foreach (var line in lost.Take(10).Concat(staleReads.Take(10)))
        {
            output.WriteLine(line);
        }

        Assert.True(acked.Count > ackedAtKill, "writes were acknowledged after the kill");
        Assert.Empty(lost);
        Assert.NotNull(newHost);
        Assert.NotEqual(victim.Index, newHost.Index);
        Assert.True(reloaded.KeysLoaded > 0, "the write-through shard reloaded its rows");
        Assert.Empty(staleReads);
        Assert.True(volatileReads > 0);
        Assert.Equal(coldOnLost, coldOnLostNil);
        Assert.Equal(Shards + 1, emptied.Count + survivors.Count);
        Assert.Equal(lostVolatileShards.Count, oldRingRefusals);
    }

    /// <summary>Lets the writers run until <paramref name="enough"/> holds or the run's bound passes; the assertions judge what they did.</summary>
    private static async Task WritersRunUntilAsync(string what, Func<bool> enough, TimeSpan bound)
    {
        try
        {
            await Eventually.TrueAsync(what, enough, bound);
        }
        catch (TimeoutException)
        {
            // The run is bounded, not the count: a slow machine acknowledges fewer writes.
        }
    }

    private static string Cold(int i) => string.Create(CultureInfo.InvariantCulture, $"cold:{i}");

    private static string Hot(int writer, int k) => string.Create(CultureInfo.InvariantCulture, $"hot:{writer}:{k}");
}
