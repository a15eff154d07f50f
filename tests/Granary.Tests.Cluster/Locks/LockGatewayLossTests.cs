using System.Diagnostics;
using System.Globalization;
using System.Net;
using Granary.Client.Locks;
using Granary.Locks;
using Granary.Tests.Cluster.Infrastructure;
using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.Hosting;
using Orleans.Messaging;
using Xunit.Abstractions;

namespace Granary.Tests.Cluster.Locks;

/// <summary>
/// A lock call in flight through a gateway that dies, on real silo processes (PostgreSQL shards,
/// durable mode): Orleans keeps such a call waiting for its 30 s response timeout, so the SDK must
/// bound the attempt and send it again through a live gateway, and the lock must treat the repeat as
/// the same request (one lease, one token).
/// </summary>
[Collection(ServersCollection.Name)]
public sealed class LockGatewayLossTests(SharedServersFixture servers, ITestOutputHelper output)
{
    // Default SDK settings: an attempt is bounded by twice the call timeout (5 s) at most, then sent
    // again after at most 0.5 s; the gateway list is refreshed every second. Well under the 30 s an
    // unbounded call would wait.
    private static readonly TimeSpan Bound = TimeSpan.FromSeconds(15);

    [Fact]
    public async Task Acquire_and_release_in_flight_through_a_killed_gateway_complete_through_another_within_the_bound_with_one_lease()
    {
        var prefix = "lg" + Guid.NewGuid().ToString("N")[..8];
        var shards = Enumerable.Range(0, 2).Select(i => servers.Postgres.ConnectionString($"{prefix}_shard_{i}")).ToList();
        await using var cluster = await ProcessCluster.StartAsync(new ProcessClusterOptions
        {
            RedisConnectionString = servers.Redis.ConnectionString,
            Shards = shards,
            Silos = 3,
        });
        const string name = "gateway-loss";
        var history = new LockHistory();
        var holder = new DistributedLocks(cluster.Grains, new DistributedLockOptions { Owner = "holder" });
        await holder.StatusAsync(name);
        var host = await cluster.FindHostAsync(cluster.Grains.GetGrain<ILockGrain>(name));
        Assert.NotNull(host);
        var gateways = cluster.Silos.Where(s => s != host).ToList();
        output.WriteLine($"lock '{name}' lives on {host}; gateways to kill: {string.Join(", ", gateways)}");

        // 1. An acquire waiting in the queue when its gateway is SIGKILLed; the holder then releases,
        // so the lock grants the waiter while the answer has no way back.
        var held = await holder.AcquireAsync(name, TimeSpan.FromSeconds(30), TimeSpan.Zero);
        var heldFrom = history.Now;
        using var first = await StartPinnedClientAsync(cluster, gateways[0]);
        var waiter = new DistributedLocks(first.Services.GetRequiredService<IClusterClient>(), new DistributedLockOptions { Owner = "waiter" });
        var acquire = waiter.AcquireAsync(name, TimeSpan.FromSeconds(20), TimeSpan.FromSeconds(60));
        await Eventually.TrueAsync("the waiter queues at the lock", async () => (await holder.StatusAsync(name)).Waiters.Any(w => w.Owner == "waiter"), TimeSpan.FromSeconds(30));
        ProcessCluster.Kill(gateways[0]);
        var killedAt = Stopwatch.StartNew();
        history.Record(held.Lease.Owner, held.Token, heldFrom, history.Now);
        Assert.Equal(LockReleaseOutcome.Released, await held.ReleaseAsync());
        var granted = await acquire.WaitAsync(TimeSpan.FromSeconds(45));
        var acquireTook = killedAt.Elapsed;
        var grantedFrom = history.Now;
        var afterAcquire = await holder.StatusAsync(name);
        output.WriteLine($"acquire through the killed {gateways[0]}: granted token {granted.Token} {acquireTook.TotalSeconds:F2} s after the kill (holder's token {held.Token}); lock: last token {afterAcquire.LastToken}, holders [{string.Join(", ", afterAcquire.Holders.Select(h => $"{h.Owner}:{h.Token}"))}]");

        // 2. A release in flight through a gateway that stops answering (SIGSTOP: its sockets stay
        // open, as with an unreachable machine) and is then SIGKILLed.
        using var second = await StartPinnedClientAsync(cluster, gateways[1]);
        var releaser = new DistributedLocks(second.Services.GetRequiredService<IClusterClient>(), new DistributedLockOptions { Owner = "releaser" });
        history.Record(granted.Lease.Owner, granted.Token, grantedFrom, history.Now);
        Assert.Equal(LockReleaseOutcome.Released, await granted.ReleaseAsync().WaitAsync(Bound));
        var last = await releaser.AcquireAsync(name, TimeSpan.FromSeconds(30), TimeSpan.FromSeconds(10));
        var lastFrom = history.Now;
        ProcessCluster.Freeze(gateways[1]);
        var release = last.ReleaseAsync();
        await Task.Delay(TimeSpan.FromMilliseconds(300)); // pacing: lets the client write the request to the frozen gateway's socket; the outcome must hold either way
        history.Record(last.Lease.Owner, last.Token, lastFrom, history.Now);
        ProcessCluster.Kill(gateways[1]);
        var frozenAt = Stopwatch.StartNew();
        var released = await release.WaitAsync(TimeSpan.FromSeconds(45));
        var releaseTook = frozenAt.Elapsed;
        var afterRelease = await holder.StatusAsync(name);
        output.WriteLine($"release through the frozen, then killed {gateways[1]}: {released} {releaseTook.TotalSeconds:F2} s after the kill; lock: last token {afterRelease.LastToken}, holders {afterRelease.Holders.Count}");
        output.WriteLine($"history: {string.Join("; ", history.Entries)}; overlaps {history.Overlaps().Count}");

        Assert.True(acquireTook < Bound, $"the acquire took {acquireTook} after its gateway was killed");
        Assert.Equal(held.Token + 1, granted.Token);
        Assert.Equal(granted.Token, afterAcquire.LastToken);
        Assert.Equal(granted.Token, Assert.Single(afterAcquire.Holders).Token);
        Assert.Equal(LockReleaseOutcome.Released, released);
        Assert.True(releaseTook < Bound, $"the release took {releaseTook} after its gateway was killed");
        Assert.Equal(last.Token, afterRelease.LastToken);
        Assert.Empty(afterRelease.Holders);
        Assert.Empty(history.Overlaps());
        Assert.Equal(0, history.TokenOrderViolations());
    }

    /// <summary>
    /// A client that sends everything through <paramref name="gateway"/> while it runs, and through
    /// the cluster's other live gateways once it has died: so the test knows which gateway carries a call.
    /// </summary>
    private static Task<IHost> StartPinnedClientAsync(ProcessCluster cluster, SiloProcess gateway) =>
        cluster.StartClientAsync(client => client.Services.AddSingleton<IGatewayListProvider>(new PinnedGatewayList(cluster, gateway)));

    private sealed class PinnedGatewayList(ProcessCluster cluster, SiloProcess pinned) : IGatewayListProvider
    {
        public TimeSpan MaxStaleness => TimeSpan.FromSeconds(1);

        public bool IsUpdatable => true;

        public Task InitializeGatewayListProvider() => Task.CompletedTask;

        public Task<IList<Uri>> GetGateways()
        {
            var live = pinned.IsAlive ? [pinned] : cluster.Silos.Where(s => s.IsAlive).ToList();
            return Task.FromResult<IList<Uri>>(live.Select(s => SiloAddress.New(new IPEndPoint(IPAddress.Loopback, s.GatewayPort), 0).ToGatewayUri()).ToList());
        }

        public override string ToString() => string.Create(CultureInfo.InvariantCulture, $"pinned to {pinned}");
    }
}
