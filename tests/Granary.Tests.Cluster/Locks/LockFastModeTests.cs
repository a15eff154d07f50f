using System.Diagnostics;
using Granary.Client.Locks;
using Granary.Locks;
using Granary.Tests.Cluster.Infrastructure;
using Xunit.Abstractions;

namespace Granary.Tests.Cluster.Locks;

/// <summary>
/// Fast mode on TestCluster silo processes: after a SIGKILL of the lock's silo the new activation takes a
/// higher token epoch and grants nothing until the lock-delay has passed, so the lease granted by
/// the lost activation has expired before the next grant.
/// </summary>
[Collection(ServersCollection.Name)]
public sealed class LockFastModeTests(SharedServersFixture servers, ITestOutputHelper output)
{
    private static readonly TimeSpan MaxTtl = TimeSpan.FromSeconds(4);

    [Fact]
    public async Task After_a_sigkill_the_next_grant_waits_for_the_lock_delay_and_carries_a_higher_epoch()
    {
        var prefix = "lf" + Guid.NewGuid().ToString("N")[..8];
        var shards = Enumerable.Range(0, 2).Select(i => servers.Postgres.ConnectionString($"{prefix}_shard_{i}")).ToList();
        await using var cluster = await StandaloneCluster.StartAsync(new StandaloneClusterOptions
        {
            RedisConnectionString = servers.Redis.ConnectionString,
            Shards = shards,
            Silos = 2,
            Settings = new Dictionary<string, string>
            {
                ["Granary:Locks:Durability"] = "Fast",
                ["Granary:Locks:MaxTtl"] = "00:00:04",
                ["Granary:Locks:MaxCallWait"] = "00:00:02",
            },
        });

        const string name = "fast-mode-under-kill";
        var grain = cluster.Grains.GetGrain<ILockGrain>(name);
        var options = new DistributedLockOptions { CallTimeout = TimeSpan.FromSeconds(5), TransientRetryWindow = TimeSpan.FromSeconds(30) };
        var first = new DistributedLocks(cluster.Grains, options with { Owner = "first" });
        var second = new DistributedLocks(cluster.Grains, options with { Owner = "second" });

        await using var holder = await first.AcquireAsync(name, MaxTtl, TimeSpan.Zero);
        var host = await cluster.FindHostAsync(grain);
        Assert.NotNull(host);
        var clock = Stopwatch.StartNew();
        await cluster.KillAsync(host);
        output.WriteLine($"holder 'first' token {holder.Token} (epoch {holder.Token >> 32}); SIGKILL {host}");
        await using var next = await second.AcquireAsync(name, MaxTtl, TimeSpan.FromSeconds(40));
        var recovery = clock.Elapsed;
        var lastFirstExpiry = holder.Lease.ExpiresAt;
        var status = await grain.GetStatusAsync();

        output.WriteLine($"'second' granted token {next.Token} (epoch {next.Token >> 32}) {recovery.TotalSeconds:F2} s after the kill, at {next.Lease.GrantedAt:HH:mm:ss.fff}; 'first' lease expired at {lastFirstExpiry:HH:mm:ss.fff}; first LeaseLost {holder.IsLost}");
        Assert.Equal("Fast", status.Durability);
        Assert.True(next.Token > holder.Token);
        Assert.True(next.Token >> 32 > holder.Token >> 32, "the new activation must use a higher epoch");
        // Same machine, same clock: the new grant comes after the old lease's last expiry.
        Assert.True(next.Lease.GrantedAt >= lastFirstExpiry, $"granted {next.Lease.GrantedAt:O} before the old lease expired {lastFirstExpiry:O}");
        Assert.True(recovery >= MaxTtl, $"granted {recovery} after the kill, before the lock-delay");
        Assert.True(recovery < TimeSpan.FromSeconds(25), $"recovery took {recovery}");
        await Eventually.TrueAsync("the first holder's handle reports the lease lost", () => holder.IsLost, TimeSpan.FromSeconds(15));
    }
}
