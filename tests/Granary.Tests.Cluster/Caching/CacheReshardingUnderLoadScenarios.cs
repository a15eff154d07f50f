using System.Collections.Concurrent;
using System.Diagnostics;
using System.Globalization;
using Granary.Caching;
using Granary.Client.Caching;
using Granary.Tests.Cluster.Foundation;
using Granary.Tests.Cluster.Infrastructure;
using Xunit.Abstractions;

namespace Granary.Tests.Cluster.Caching;

/// <summary>
/// Readers and writers keep running while a cache goes 4 -> 6 -> 3 shards. Each key has one writer
/// that writes increasing numbers one at a time; a read must return a number between the last one
/// acknowledged before the read started and the last one attempted when it ended (never older:
/// no stale read), and at the end every key holds its last acknowledged number (no lost write).
/// Written once and run on every storage backend (<see cref="CacheReshardingUnderLoadScenariosOnMemory"/>,
/// <see cref="CacheReshardingUnderLoadScenariosOnPostgres"/>).
/// </summary>
public abstract class CacheReshardingUnderLoadScenarios(GranaryTestClusterFixture cluster, ITestOutputHelper output)
{
    private const int Keys = 3000;
    private const int Writers = 8;
    private const int Readers = 4;

    [Theory]
    [InlineData(CachePersistence.Volatile)]
    [InlineData(CachePersistence.WriteThrough)]
    public async Task Resharding_under_load_loses_no_write_serves_no_stale_read_and_moves_close_to_ideal(CachePersistence persistence)
    {
        var name = "reshard-load-" + Guid.NewGuid().ToString("N");
        await using var cache = await CacheClient.CreateAsync(cluster.Grains, name, 4, new CacheSettings(persistence));
        await Task.WhenAll(Enumerable.Range(0, Keys).Select(i => cache.SetAsync(Key(i), "0")));

        var acked = new long[Keys];
        var attempted = new long[Keys];
        var writes = 0L;
        var reads = 0L;
        var refusedAndRetried = 0L;
        var stale = new ConcurrentBag<string>();
        using var stop = new CancellationTokenSource();

        async Task WriteAsync(int writer)
        {
            for (var round = 1L; !stop.IsCancellationRequested; round++)
            {
                for (var i = writer; i < Keys && !stop.IsCancellationRequested; i += Writers)
                {
                    Volatile.Write(ref attempted[i], round);
                    var reply = await cache.ExecuteAsync(["SET", Key(i), round.ToString(CultureInfo.InvariantCulture)]);
                    if (reply.IsError)
                    {
                        // MOVED after the client's retries: not executed; the next round writes the key again.
                        Interlocked.Increment(ref refusedAndRetried);
                        continue;
                    }

                    Volatile.Write(ref acked[i], round);
                    Interlocked.Increment(ref writes);
                }
            }
        }

        async Task ReadAsync(int reader)
        {
            var random = new Random(reader);
            while (!stop.IsCancellationRequested)
            {
                var i = random.Next(Keys);
                var floor = Volatile.Read(ref acked[i]);
                var reply = await cache.ExecuteAsync(["GET", Key(i)]);
                var ceiling = Volatile.Read(ref attempted[i]);
                if (reply.IsError)
                {
                    Interlocked.Increment(ref refusedAndRetried);
                    continue;
                }

                Interlocked.Increment(ref reads);
                var seen = reply.IsNil ? -1 : long.Parse(reply.Text!, CultureInfo.InvariantCulture);
                if (seen < floor || seen > ceiling)
                {
                    stale.Add($"{Key(i)}: read {(reply.IsNil ? "(nil)" : seen)}, acknowledged before the read {floor}, attempted {ceiling}");
                }
            }
        }

        var load = Enumerable.Range(0, Writers).Select(w => Task.Run(() => WriteAsync(w)))
            .Concat(Enumerable.Range(0, Readers).Select(r => Task.Run(() => ReadAsync(r))))
            .ToList();
        var definition = cluster.Grains.GetGrain<ICacheDefinitionGrain>(name);
        var steps = new List<(ReshardResult Result, TimeSpan Took, long WritesBefore)>();
        foreach (var target in new[] { 6, 3 })
        {
            await WaitForWritesAsync(() => Interlocked.Read(ref writes), Keys);
            var clock = Stopwatch.StartNew();
            var before = Interlocked.Read(ref writes);
            steps.Add((await definition.ReshardAsync(target), clock.Elapsed, before));
        }

        await WaitForWritesAsync(() => Interlocked.Read(ref writes), Keys);
        await stop.CancelAsync();
        await Task.WhenAll(load);

        var values = await cache.ExecuteAsync(["MGET", .. Enumerable.Range(0, Keys).Select(Key)]);
        var lost = Enumerable.Range(0, Keys).Where(i => values.Items![i].Text != acked[i].ToString(CultureInfo.InvariantCulture)).ToList();
        var from = 4;
        foreach (var (result, took, _) in steps)
        {
            var fraction = result.KeysMoved / (double)result.KeysBefore;
            output.WriteLine($"{persistence}: {from} -> {result.Definition.Shards} shards under load: moved {result.KeysMoved} of {result.KeysBefore} keys ({fraction:P1}; ideal {result.IdealFraction:P1}; {fraction / result.IdealFraction:F2}x ideal) in {took.TotalMilliseconds:F0} ms");
            from = result.Definition.Shards;
        }

        output.WriteLine($"{persistence}: {Interlocked.Read(ref writes)} writes and {Interlocked.Read(ref reads)} reads acknowledged, {cache.MovedReplies} MOVED replies retried by the client on the new ring, {Interlocked.Read(ref refusedAndRetried)} errors after retries; lost={lost.Count}, stale={stale.Count}");
        foreach (var line in stale.Take(10).Concat(lost.Take(10).Select(i => $"{Key(i)}: read {values.Items![i].Text}, acknowledged {acked[i]}")))
        {
            output.WriteLine(line);
        }

        Assert.Empty(stale);
        Assert.Empty(lost);
        Assert.Equal(3, cache.Definition.Shards);
        Assert.All(steps, s => Assert.Equal(Keys, s.Result.KeysBefore));
        Assert.All(steps, s => Assert.True(s.Result.KeysMoved / (double)s.Result.KeysBefore <= 1.3 * s.Result.IdealFraction, $"moved {s.Result.KeysMoved} of {s.Result.KeysBefore}, ideal {s.Result.IdealFraction:P1}"));
        Assert.True(Interlocked.Read(ref reads) > 0);
        Assert.True(cache.MovedReplies > 0, "commands were in flight while keys moved");
    }

    private static Task WaitForWritesAsync(Func<long> writes, long more)
    {
        var target = writes() + more;
        return Eventually.TrueAsync($"{more} more writes acknowledged (the load did not stall)", () => writes() >= target, TimeSpan.FromSeconds(20));
    }

    private static string Key(int i) => string.Create(CultureInfo.InvariantCulture, $"r:{i}");
}

/// <summary>The resharding-under-load scenario on memory storage (the fast cluster).</summary>
[Collection(FastClusterCollection.Name)]
public sealed class CacheReshardingUnderLoadScenariosOnMemory(FastClusterFixture cluster, ITestOutputHelper output) : CacheReshardingUnderLoadScenarios(cluster, output);

/// <summary>The resharding-under-load scenario on Redis clustering and PostgreSQL shards.</summary>
[Collection(PostgresClusterCollection.Name)]
public sealed class CacheReshardingUnderLoadScenariosOnPostgres(PostgresClusterFixture cluster, ITestOutputHelper output) : CacheReshardingUnderLoadScenarios(cluster, output);
