using System.Collections.Concurrent;
using Granary.Client.Locks;
using Granary.Locks;
using Granary.Tests.Cluster.Infrastructure;
using Xunit.Abstractions;

namespace Granary.Tests.Cluster.Locks;

/// <summary>
/// The history check on TestCluster silo processes with PostgreSQL shards (durable mode) while the silo
/// hosting the lock is SIGKILLed twice: no two leases overlap, tokens keep increasing, the lock is
/// served again within the recovery bound.
/// </summary>
[Collection(ServersCollection.Name)]
public class LockSiloLossTests(SharedServersFixture servers, ITestOutputHelper output)
{
    /// <summary>Extra silo and client settings of the cluster (the TLS subclass adds its certificates).</summary>
    protected virtual IEnumerable<KeyValuePair<string, string>> ClusterSettings => [];

    private static readonly TimeSpan RecoveryBound = TimeSpan.FromSeconds(20);
    private static readonly TimeSpan Ttl = TimeSpan.FromSeconds(10);

    [Fact]
    public async Task History_has_no_overlap_and_increasing_tokens_while_the_lock_silo_is_killed_twice()
    {
        var prefix = "lk" + Guid.NewGuid().ToString("N")[..8];
        var shards = Enumerable.Range(0, 2).Select(i => servers.Postgres.ConnectionString($"{prefix}_shard_{i}")).ToList();
        await using var cluster = await StandaloneCluster.StartAsync(new StandaloneClusterOptions
        {
            RedisConnectionString = servers.Redis.ConnectionString,
            Shards = shards,
            Silos = 3,
            // Short per-call waits so that the SDK's re-issue path runs too.
            Settings = new Dictionary<string, string>(ClusterSettings, StringComparer.Ordinal) { ["Granary:Locks:MaxCallWait"] = "00:00:02" },
        });

        const string name = "history-under-kills";
        var grain = cluster.Grains.GetGrain<ILockGrain>(name);
        var resource = cluster.Grains.GetGrain<IFencedResourceGrain>(name);
        var history = new LockHistory();
        var kills = new ConcurrentQueue<TimeSpan>();
        var stale = 0;
        var lost = 0;
        var errors = new ConcurrentQueue<string>();
        using var stop = new CancellationTokenSource();

        async Task Client(int c)
        {
            var locks = new DistributedLocks(cluster.Grains, new DistributedLockOptions
            {
                Owner = "client-" + c,
                CallTimeout = TimeSpan.FromSeconds(5),
                TransientRetryWindow = TimeSpan.FromSeconds(30),
            });
            while (!stop.IsCancellationRequested)
            {
                LockHandle lease;
                try
                {
                    lease = await locks.AcquireAsync(name, Ttl, TimeSpan.FromSeconds(40));
                }
                catch (Exception ex) when (ex is not OutOfMemoryException)
                {
                    errors.Enqueue($"client-{c} acquire: {ex.GetType().Name}: {ex.Message}");
                    continue;
                }

                var granted = history.Now;
                TimeSpan? lostAt = null;
                using var onLost = lease.LeaseLost.Register(() => lostAt ??= history.Now);
                await using (lease)
                {
                    await WriteWithRetryAsync(resource, lease, () => Interlocked.Increment(ref stale));
                    var end = history.Now;
                    if (lease.IsLost)
                    {
                        Interlocked.Increment(ref lost);
                    }

                    history.Record(lease.Lease.Owner, lease.Token, granted, lostAt is { } l && l < end ? l : end);
                }
            }
        }

        var clients = Enumerable.Range(0, 6).Select(Client).ToArray();
        var killer = Task.Run(async () =>
        {
            for (var k = 0; k < 2; k++)
            {
                var grantsBefore = history.Entries.Count;
                await Eventually.TrueAsync("20 more grants before the kill", () => history.Entries.Count >= grantsBefore + 20, TimeSpan.FromSeconds(60));
                var host = await Eventually.ValueAsync("the lock's host is known", () => cluster.FindHostAsync(grain), h => h is not null, TimeSpan.FromSeconds(30));
                kills.Enqueue(history.Now);
                output.WriteLine($"{history.Now.TotalSeconds:F2} s: SIGKILL {host} (hosts lock '{name}'), {history.Entries.Count} grants so far");
                await cluster.KillAsync(host!);
                try
                {
                    var replacement = await cluster.AddSiloAsync();
                    output.WriteLine($"{history.Now.TotalSeconds:F2} s: replacement {replacement} active");
                }
                catch (Exception ex) when (ex is InvalidOperationException or TimeoutException)
                {
                    // On an overloaded machine the fast-failover profile can declare a starting silo
                    // dead (it then stops itself); the lock must stay safe on the silos that remain.
                    output.WriteLine($"{history.Now.TotalSeconds:F2} s: replacement silo did not become active: {ex.Message.Split('\n')[0]}");
                }
            }

            var grantsAfter = history.Entries.Count;
            await Eventually.TrueAsync("20 more grants after the kills", () => history.Entries.Count >= grantsAfter + 20, TimeSpan.FromSeconds(60));
        });

        await killer;
        await stop.CancelAsync();
        await Task.WhenAll(clients).WaitAsync(TimeSpan.FromSeconds(90));

        var entries = history.Entries;
        var overlaps = history.Overlaps();
        var recoveries = kills.Select(k => (entries.FirstOrDefault(e => e.GrantedAt > k)?.GrantedAt ?? TimeSpan.MaxValue) - k).ToList();
        output.WriteLine($"grants {entries.Count}, kills {kills.Count}, overlaps {overlaps.Count}, token order violations {history.TokenOrderViolations()}, stale writes {stale}, leases lost {lost}");
        output.WriteLine($"recovery after each kill (kill to next grant): {string.Join(", ", recoveries.Select(r => $"{r.TotalSeconds:F2} s"))}; max {recoveries.Max().TotalSeconds:F2} s");
        output.WriteLine($"last token {entries[^1].Token}, tokens {entries[0].Token}..{entries[^1].Token}");
        foreach (var e in errors.Take(5))
        {
            output.WriteLine("  error: " + e);
        }

        foreach (var (a, b) in overlaps.Take(5))
        {
            output.WriteLine($"  overlap: {a} / {b}");
        }

        Assert.Equal(2, kills.Count);
        Assert.Empty(overlaps);
        Assert.Equal(0, history.TokenOrderViolations());
        Assert.Equal(0, stale);
        Assert.All(recoveries, r => Assert.True(r < RecoveryBound, $"recovery took {r}"));
        Assert.True(entries.Count >= 60, $"only {entries.Count} grants");
    }

    /// <summary>Writes under the lease, retrying transient errors until the lease is lost or its TTL has passed.</summary>
    private static async Task WriteWithRetryAsync(IFencedResourceGrain resource, LockHandle lease, Action onStale)
    {
        try
        {
            await Eventually.SucceedsAsync(
                "a write under the lease",
                () => lease.IsLost ? Task.CompletedTask : resource.WriteAsync(lease.Token, lease.Lease.Owner).WaitAsync(TimeSpan.FromSeconds(5)),
                Ttl,
                ClientRetry.IsTransient,
                TimeSpan.FromMilliseconds(100));
        }
        catch (StaleTokenException)
        {
            onStale();
        }
        catch (TimeoutException)
        {
            // The TTL passed without a successful write: the lease is over either way.
        }
    }
}
