using System.Globalization;
using Granary.Locks;
using Granary.Server.Storage;
using Granary.Tests.Cluster.Infrastructure;
using Microsoft.Extensions.DependencyInjection;
using Orleans.Storage;
using Orleans.TestingHost;
using Xunit.Abstractions;

namespace Granary.Tests.Cluster.Locks;

/// <summary>
/// Fast mode, two activations of one lock (what a membership change can briefly cause). The test
/// plays the newer activation by writing the lock's row the way a new activation does (epoch + 1,
/// not clean) while the older activation keeps serving. The older one must stop granting within its
/// activation lease, and the lock's next grant must come after every lease the older one granted.
/// </summary>
[Collection(ServersCollection.Name)]
public sealed class LockDoubleActivationTests(SharedServersFixture servers, ITestOutputHelper output) : IAsyncLifetime
{
    private static readonly TimeSpan MaxTtl = TimeSpan.FromSeconds(2);
    private static readonly TimeSpan ActivationLease = TimeSpan.FromSeconds(1);
    private readonly RedisPostgresClusterFixture _cluster = new(servers);

    public Task InitializeAsync()
    {
        _cluster.Settings["Granary:Locks:Durability"] = "Fast";
        _cluster.Settings["Granary:Locks:MaxTtl"] = "00:00:02";
        _cluster.Settings["Granary:Locks:ActivationLease"] = "00:00:01";
        return _cluster.InitializeAsync();
    }

    public Task DisposeAsync() => _cluster.DisposeAsync();

    [Fact]
    public async Task An_older_activation_stops_granting_once_a_newer_one_has_written_its_epoch()
    {
        var name = "double-" + Guid.NewGuid().ToString("N")[..8];
        var grain = _cluster.Grains.GetGrain<ILockGrain>(name);
        var first = await Grant(grain, "warm-up");
        Assert.NotNull(first);
        await grain.ReleaseAsync(first.Owner, first.Token);
        var oldEpoch = first.Token >> 32;

        // The "newer activation": read the row and write it back as an activation does on start.
        var storage = ((InProcessSiloHandle)_cluster.Cluster.Silos[0]).SiloHost.Services.GetRequiredKeyedService<IGrainStorage>(StorageNames.Default);
        var id = GrainId.Create("granary.locks.lock", name);
        var row = new GrainState<LockState>();
        await storage.ReadStateAsync("lock-lease", id, row);
        var stored = row.State ?? throw new InvalidOperationException("the lock has no stored row");
        Assert.Equal(oldEpoch, stored.Epoch);
        stored.Epoch++;
        stored.CleanShutdown = false;
        await storage.WriteStateAsync("lock-lease", id, row);
        var rogueAt = DateTimeOffset.UtcNow;

        // Keep asking (each lease is released at once) until a newer activation grants.
        var grants = new List<LockLease>();
        var refusals = 0;
        var attempt = 0;
        async Task<LockLease?> AskAsync()
        {
            try
            {
                var lease = await Grant(grain, "client-" + (attempt++).ToString(CultureInfo.InvariantCulture));
                if (lease is null)
                {
                    refusals++;
                    return null;
                }

                grants.Add(lease);
                try
                {
                    await grain.ReleaseAsync(lease.Owner, lease.Token);
                }
                catch (LeaseNotHeldException)
                {
                    // The activation that granted it is gone; the lease ends at its expiry.
                }

                return lease;
            }
            catch (LockUnavailableException)
            {
                refusals++;
                return null;
            }
        }

        var newer = await Eventually.ValueAsync("a grant by a newer activation", AskAsync, l => l is not null && l.Token >> 32 > oldEpoch, TimeSpan.FromSeconds(30), TimeSpan.FromMilliseconds(50));

        var old = grants.Where(g => g.Token >> 32 == oldEpoch).ToList();
        output.WriteLine($"rogue epoch write at {rogueAt:HH:mm:ss.fff}; {old.Count} grants by the older activation after it, last at {(old.Count == 0 ? "-" : old.Max(g => g.GrantedAt).ToString("HH:mm:ss.fff", CultureInfo.InvariantCulture))}; {refusals} refusals/unavailable");
        Assert.NotNull(newer);
        output.WriteLine($"first grant by a newer activation: token {newer.Token} (epoch {newer.Token >> 32}) at {newer.GrantedAt:HH:mm:ss.fff}");
        Assert.All(old, g => Assert.True(g.GrantedAt < rogueAt + ActivationLease, $"older activation granted at {g.GrantedAt:O}, after its lease could have run out ({rogueAt + ActivationLease:O})"));
        var lastOldExpiry = old.Count == 0 ? first.ExpiresAt : old.Max(g => g.ExpiresAt);
        Assert.True(newer.GrantedAt >= lastOldExpiry, $"newer activation granted at {newer.GrantedAt:O}, before the older one's lease ended at {lastOldExpiry:O}");
        Assert.True(newer.Token > grants.Where(g => g != newer).Select(g => g.Token).DefaultIfEmpty(first.Token).Max());
    }

    [Fact]
    public async Task A_fast_activation_of_a_lock_with_durable_holders_waits_them_out_and_takes_a_higher_epoch()
    {
        // The row as durable mode leaves it (the cluster then switched to fast): a recorded holder
        // whose lease runs another MaxTtl, last token 5, and no fast epoch yet.
        var name = "from-durable-" + Guid.NewGuid().ToString("N")[..8];
        var storage = ((InProcessSiloHandle)_cluster.Cluster.Silos[0]).SiloHost.Services.GetRequiredKeyedService<IGrainStorage>(StorageNames.Default);
        var now = DateTimeOffset.UtcNow;
        var holder = new LeaseRecord { Owner = "durable-holder", RequestId = "r1", Token = 5, GrantedAt = now, ExpiresAt = now + MaxTtl, Ttl = MaxTtl };
        var row = new GrainState<LockState>(new LockState { LastToken = 5, CleanShutdown = true, Holders = [holder] });
        await storage.WriteStateAsync("lock-lease", GrainId.Create("granary.locks.lock", name), row);

        var grain = _cluster.Grains.GetGrain<ILockGrain>(name);
        var status = await grain.GetStatusAsync();
        Assert.Equal("Fast", status.Durability);
        Assert.NotNull(status.GrantsBlockedUntil);
        Assert.Null(await Grant(grain, "too-early"));
        var result = await grain.AcquireAsync(new AcquireRequest("next", Guid.NewGuid().ToString("N"), MaxTtl, TimeSpan.FromSeconds(20)));
        var lease = result.Lease;
        Assert.NotNull(lease);
        output.WriteLine($"durable holder's lease ended {holder.ExpiresAt:HH:mm:ss.fff}; grants blocked until {status.GrantsBlockedUntil:HH:mm:ss.fff}; first fast grant {lease.GrantedAt:HH:mm:ss.fff}, token {lease.Token} (epoch {lease.Token >> 32})");
        Assert.True(lease.GrantedAt >= holder.ExpiresAt, $"granted at {lease.GrantedAt:O}, before the durable holder's lease ended at {holder.ExpiresAt:O}");
        Assert.True(lease.Token >> 32 >= 1 && lease.Token > holder.Token);
        await grain.ReleaseAsync(lease.Owner, lease.Token);
    }

    private static async Task<LockLease?> Grant(ILockGrain grain, string owner)
    {
        var result = await grain.AcquireAsync(new AcquireRequest(owner, Guid.NewGuid().ToString("N"), MaxTtl, TimeSpan.Zero));
        return result.Lease;
    }
}
