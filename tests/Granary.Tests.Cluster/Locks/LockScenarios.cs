using Granary.Client.Locks;
using Granary.Errors;
using Granary.Locks;
using Granary.Server.Storage;
using Granary.Tests.Cluster.Foundation;
using Granary.Tests.Cluster.Infrastructure;
using Microsoft.Extensions.DependencyInjection;
using Orleans.Storage;
using Orleans.TestingHost;
using Xunit.Abstractions;

namespace Granary.Tests.Cluster.Locks;

/// <summary>
/// Lock and fenced-resource grains and the SDK on an in-process cluster in durable mode, written once
/// and run on every storage backend (<see cref="LockScenariosOnMemory"/>, <see cref="LockScenariosOnPostgres"/>).
/// </summary>
public abstract class LockScenarios(GranaryTestClusterFixture fixture, ITestOutputHelper output)
{
    private static readonly TimeSpan Settle = TimeSpan.FromSeconds(10);

    private static readonly TimeSpan Ttl = TimeSpan.FromSeconds(30);

    [Fact]
    public async Task Acquire_then_release_by_the_holder_frees_the_lock_with_increasing_tokens()
    {
        var grain = fixture.Grains.GetGrain<ILockGrain>(NewName());

        var first = await grain.AcquireAsync(new AcquireRequest("a", "r1", Ttl, TimeSpan.Zero));
        await grain.ReleaseAsync("a", first.Lease!.Token);
        var second = await grain.AcquireAsync(new AcquireRequest("b", "r2", Ttl, TimeSpan.Zero));

        Assert.Equal(1, first.Lease.Token);
        Assert.Equal(2, second.Lease!.Token);
        var status = await grain.GetStatusAsync();
        Assert.Equal("b", Assert.Single(status.Holders).Owner);
        Assert.Equal("Durable", status.Durability);
    }

    [Fact]
    public async Task An_attempt_that_arrives_after_its_abandon_takes_nothing_and_the_lock_stays_free()
    {
        // Orleans may deliver a client's abandon before the attempt it gives up.
        var grain = fixture.Grains.GetGrain<ILockGrain>(NewName());

        await grain.AbandonAsync("a", "late");
        var late = await grain.AcquireAsync(new AcquireRequest("a", "late", Ttl, TimeSpan.FromSeconds(5)));
        var other = await grain.AcquireAsync(new AcquireRequest("b", "r2", Ttl, TimeSpan.Zero));

        Assert.Null(late.Lease);
        Assert.False(late.StillWaiting);
        Assert.NotNull(other.Lease);
        var status = await grain.GetStatusAsync();
        Assert.Equal("b", Assert.Single(status.Holders).Owner);
        Assert.Empty(status.Waiters);
    }

    [Fact]
    public async Task Same_request_id_returns_the_same_lease()
    {
        var grain = fixture.Grains.GetGrain<ILockGrain>(NewName());

        var first = await grain.AcquireAsync(new AcquireRequest("a", "r1", Ttl, TimeSpan.Zero));
        var retry = await grain.AcquireAsync(new AcquireRequest("a", "r1", Ttl, TimeSpan.Zero));

        Assert.Equal(first.Lease, retry.Lease);
        Assert.Equal(1, (await grain.GetStatusAsync()).LastToken);
    }

    [Fact]
    public async Task Wrong_owner_and_unknown_token_are_typed_errors_and_change_nothing()
    {
        var grain = fixture.Grains.GetGrain<ILockGrain>(NewName());
        var lease = (await grain.AcquireAsync(new AcquireRequest("a", "r1", Ttl, TimeSpan.Zero))).Lease!;

        var wrongOwner = await Assert.ThrowsAsync<LeaseNotHeldException>(() => grain.ReleaseAsync("mallory", lease.Token));
        var unknownToken = await Assert.ThrowsAsync<LeaseNotHeldException>(() => grain.RenewAsync("a", lease.Token + 7, Ttl));

        Assert.Equal(LockErrorCodes.LeaseNotHeld, wrongOwner.Code);
        Assert.Equal(LockErrorCodes.LeaseNotHeld, unknownToken.Code);
        var status = await grain.GetStatusAsync();
        Assert.Equal(lease, Assert.Single(status.Holders));
    }

    [Fact]
    public async Task Bad_input_is_a_typed_error_and_leaves_the_lock_unchanged()
    {
        var name = NewName();
        var grain = fixture.Grains.GetGrain<ILockGrain>(name);
        var lease = (await grain.AcquireAsync(new AcquireRequest("a", "r1", Ttl, TimeSpan.Zero))).Lease!;
        var before = await grain.GetStatusAsync();

        var zeroTtl = await Assert.ThrowsAsync<InvalidRequestException>(() => grain.AcquireAsync(new AcquireRequest("b", "r2", TimeSpan.Zero, TimeSpan.Zero)));
        var hugeTtl = await Assert.ThrowsAsync<InvalidRequestException>(() => grain.AcquireAsync(new AcquireRequest("b", "r2", TimeSpan.FromHours(2), TimeSpan.Zero)));
        var negativeWait = await Assert.ThrowsAsync<InvalidRequestException>(() => grain.AcquireAsync(new AcquireRequest("b", "r2", Ttl, TimeSpan.FromSeconds(-1))));
        var emptyOwner = await Assert.ThrowsAsync<InvalidRequestException>(() => grain.AcquireAsync(new AcquireRequest("", "r2", Ttl, TimeSpan.Zero)));
        var zeroToken = await Assert.ThrowsAsync<InvalidRequestException>(() => grain.ReleaseAsync("a", 0));
        var kind = await Assert.ThrowsAsync<LockKindMismatchException>(() => grain.AcquireAsync(new AcquireRequest("b", "r3", Ttl, TimeSpan.Zero, LockType.Semaphore, Permits: 3)));
        var longName = await Assert.ThrowsAsync<InvalidRequestException>(() => fixture.Grains.GetGrain<ILockGrain>(new string('n', Limits.MaxKeyLength + 1)).GetStatusAsync());

        Assert.Equal("ttl", zeroTtl.Parameter);
        Assert.Equal("ttl", hugeTtl.Parameter);
        Assert.Equal("wait", negativeWait.Parameter);
        Assert.Equal("owner", emptyOwner.Parameter);
        Assert.Equal("token", zeroToken.Parameter);
        Assert.Equal(LockErrorCodes.KindMismatch, kind.Code);
        Assert.Equal("name", longName.Parameter);
        var after = await grain.GetStatusAsync();
        Assert.Equal(before.LastToken, after.LastToken);
        Assert.Equal(lease, Assert.Single(after.Holders));
        Assert.Empty(after.Waiters);
        var sdk = new DistributedLocks(fixture.Grains);
        await Assert.ThrowsAsync<InvalidRequestException>(() => sdk.AcquireAsync("", Ttl, TimeSpan.Zero));
        await Assert.ThrowsAsync<InvalidRequestException>(() => sdk.AcquireAsync(name, Ttl, TimeSpan.FromSeconds(-1)));
    }

    [Fact]
    public async Task Waiters_are_woken_by_push_in_arrival_order()
    {
        var grain = fixture.Grains.GetGrain<ILockGrain>(NewName());
        var held = (await grain.AcquireAsync(new AcquireRequest("w0", "r0", Ttl, TimeSpan.Zero))).Lease!;
        var waits = new List<Task<AcquireResult>>();
        for (var i = 1; i <= 4; i++)
        {
            waits.Add(grain.AcquireAsync(new AcquireRequest("w" + i, "r" + i, Ttl, TimeSpan.FromSeconds(8))));
            await Eventually.TrueAsync($"{waits.Count} waiters queued", async () => (await grain.GetStatusAsync()).Waiters.Count == waits.Count, Settle);
        }

        var order = new List<string>();
        var done = new HashSet<Task<AcquireResult>>();
        var current = held;
        for (var i = 0; i < 4; i++)
        {
            await grain.ReleaseAsync(current.Owner, current.Token);
            await Eventually.TrueAsync($"waiter {done.Count + 1} granted", () => waits.Count(w => w.IsCompleted) == done.Count + 1, Settle);
            var granted = waits.Single(w => w.IsCompleted && !done.Contains(w));
            done.Add(granted);
            current = (await granted).Lease!;
            order.Add(current.Owner);
        }

        output.WriteLine("grant order: " + string.Join(", ", order));
        Assert.Equal(["w1", "w2", "w3", "w4"], order);
        var results = await Task.WhenAll(waits);
        Assert.Equal(Enumerable.Range(2, 4).Select(i => (long)i), results.Select(r => r.Lease!.Token));
    }

    [Fact]
    public async Task Fenced_resource_rejects_a_stale_token_and_keeps_the_newer_write()
    {
        var resource = fixture.Grains.GetGrain<IFencedResourceGrain>(NewName());
        await resource.WriteAsync(33, "from the new holder");

        var error = await Assert.ThrowsAsync<StaleTokenException>(() => resource.WriteAsync(32, "from the paused old holder"));

        Assert.Equal(LockErrorCodes.StaleToken, error.Code);
        Assert.Equal(33, error.Highest);
        var read = await resource.ReadAsync();
        Assert.Equal("from the new holder", read.Value);
        Assert.Equal(1, read.Rejected);
        Assert.Equal(34, (await resource.WriteAsync(34, "next")).HighestToken);
    }

    [Fact]
    public async Task Semaphore_and_reader_writer_locks_through_the_sdk()
    {
        var locks = new DistributedLocks(fixture.Grains);
        var sem = NewName();
        await using var p1 = await locks.AcquireSemaphoreAsync(sem, 2, Ttl, TimeSpan.Zero);
        await using var p2 = await locks.AcquireSemaphoreAsync(sem, 2, Ttl, TimeSpan.Zero);
        await Assert.ThrowsAsync<LockTimeoutException>(() => locks.AcquireSemaphoreAsync(sem, 2, Ttl, TimeSpan.Zero));

        var rw = NewName();
        var r1 = await locks.AcquireReadAsync(rw, Ttl, TimeSpan.Zero);
        await using var r2 = await locks.AcquireReadAsync(rw, Ttl, TimeSpan.Zero);
        var writer = locks.AcquireWriteAsync(rw, Ttl, TimeSpan.FromSeconds(8));
        await Eventually.TrueAsync("the writer queued", async () => (await locks.StatusAsync(rw)).Waiters.Count == 1, Settle);
        await Assert.ThrowsAsync<LockTimeoutException>(() => locks.AcquireReadAsync(rw, Ttl, TimeSpan.FromMilliseconds(200)));
        await r1.DisposeAsync();
        await r2.DisposeAsync();
        await using var w = await writer;

        Assert.Equal(LockAccess.Exclusive, w.Lease.Access);
        Assert.Single((await locks.StatusAsync(rw)).Holders);
    }

    [Fact]
    public async Task Lease_lost_when_the_holder_stops_renewing_the_next_waiter_gets_it_and_LeaseLost_fires()
    {
        var name = NewName();
        var paused = new DistributedLocks(fixture.Grains, new DistributedLockOptions { AutoRenew = false, Owner = "paused" });
        var renewing = new DistributedLocks(fixture.Grains, new DistributedLockOptions { Owner = "renewing" });
        var ttl = TimeSpan.FromSeconds(3);

        // Started before the holder's request: its lease cannot expire earlier than ttl after this.
        var clock = System.Diagnostics.Stopwatch.StartNew();
        await using var holder = await paused.AcquireAsync(name, ttl, TimeSpan.Zero);
        await using var next = await renewing.AcquireAsync(name, ttl, TimeSpan.FromSeconds(10));
        var handedOffAfter = clock.Elapsed;
        await Eventually.TrueAsync("the paused holder's lease reported lost", () => holder.IsLost, Settle);
        var renew = await Assert.ThrowsAsync<LeaseExpiredException>(() => holder.RenewAsync());

        // The new holder renews itself well past its ttl (its grant came after a wait, so it confirms at
        // once): its lease comes to expire 2.5 ttls after the grant, so it was renewed after 1.5 ttls.
        var resource = fixture.Grains.GetGrain<IFencedResourceGrain>(name);
        await resource.WriteAsync(next.Token, "new holder");
        var renewedUntil = next.Lease.GrantedAt + (ttl * 2.5);
        var status = await Eventually.ValueAsync(
            $"the new holder's lease renewed to expire after {renewedUntil:O}",
            () => renewing.StatusAsync(name),
            s => s.Holders.Count != 1 || s.Holders[0].Token != next.Token || s.Holders[0].ExpiresAt >= renewedUntil,
            ttl * 4);

        output.WriteLine($"hand-off after {handedOffAfter.TotalMilliseconds:F0} ms (ttl {ttl.TotalMilliseconds} ms); old token {holder.Token}, new token {next.Token}; renew error {renew.Code}");
        Assert.True(handedOffAfter >= ttl, $"handed off after {handedOffAfter}");
        Assert.True(next.Token > holder.Token);
        Assert.True(holder.LeaseLost.IsCancellationRequested);
        Assert.False(next.IsLost);
        Assert.Equal(next.Token, Assert.Single(status.Holders).Token);
        Assert.True(status.Holders[0].ExpiresAt >= renewedUntil, $"the new holder's lease expires at {status.Holders[0].ExpiresAt:O}");
        await Assert.ThrowsAsync<StaleTokenException>(() => resource.WriteAsync(holder.Token, "stale"));
    }

    [Fact]
    public async Task History_of_many_concurrent_clients_has_no_overlap_and_increasing_tokens()
    {
        var name = NewName();
        var history = new LockHistory();
        var resource = fixture.Grains.GetGrain<IFencedResourceGrain>(name);
        const int clients = 12;
        const int rounds = 10;
        var stale = 0;

        async Task Client(int c)
        {
            var locks = new DistributedLocks(fixture.Grains, new DistributedLockOptions { Owner = "client-" + c });
            for (var i = 0; i < rounds; i++)
            {
                await using var lease = await locks.AcquireAsync(name, TimeSpan.FromSeconds(20), TimeSpan.FromSeconds(60));
                var granted = history.Now;
                try
                {
                    await resource.WriteAsync(lease.Token, lease.Lease.Owner);
                }
                catch (StaleTokenException)
                {
                    Interlocked.Increment(ref stale);
                }

                history.Record(lease.Lease.Owner, lease.Token, granted, history.Now);
            }
        }

        await Task.WhenAll(Enumerable.Range(0, clients).Select(Client));

        var overlaps = history.Overlaps();
        output.WriteLine($"grants {history.Entries.Count}, overlaps {overlaps.Count}, token order violations {history.TokenOrderViolations()}, stale writes {stale}");
        foreach (var (a, b) in overlaps.Take(5))
        {
            output.WriteLine($"  overlap: {a} / {b}");
        }

        Assert.Equal(clients * rounds, history.Entries.Count);
        Assert.Empty(overlaps);
        Assert.Equal(0, history.TokenOrderViolations());
        Assert.Equal(0, stale);
        Assert.Equal(clients * rounds, (await resource.ReadAsync()).Writes);
    }

    [Fact]
    public async Task A_durable_activation_of_a_lock_last_served_in_fast_mode_grants_above_that_epoch_and_waits_out_an_unclean_end()
    {
        // Rows as a fast-mode activation leaves them (the cluster then switched to durable): epoch 7,
        // whose tokens 7 << 32 + n were never recorded, and an older durable last token.
        var storage = ((InProcessSiloHandle)fixture.Cluster.Silos[0]).SiloHost.Services.GetRequiredKeyedService<IGrainStorage>(StorageNames.Default);
        async Task<ILockGrain> LeftByFastMode(bool clean)
        {
            var name = NewName();
            var row = new GrainState<LockState>(new LockState { Epoch = 7, LastToken = 12, CleanShutdown = clean });
            await storage.WriteStateAsync("lock-lease", GrainId.Create("granary.locks.lock", name), row);
            return fixture.Grains.GetGrain<ILockGrain>(name);
        }

        var afterClean = await LeftByFastMode(clean: true);
        Assert.Equal("Durable", (await afterClean.GetStatusAsync()).Durability);
        var lease = (await afterClean.AcquireAsync(new AcquireRequest("after-fast", Guid.NewGuid().ToString("N"), Ttl, TimeSpan.Zero))).Lease;
        Assert.NotNull(lease);
        output.WriteLine($"after a clean fast end: first durable token {lease.Token} (epoch {lease.Token >> 32}); the fast epoch was 7");
        Assert.True(lease.Token > (7L << 32) + uint.MaxValue, $"token {lease.Token} is not above every token of fast epoch 7");
        await afterClean.ReleaseAsync(lease.Owner, lease.Token);

        // An unclean end: a lease of epoch 7 may still be held, so nothing is granted for the lock-delay.
        var afterCrash = await LeftByFastMode(clean: false);
        var status = await afterCrash.GetStatusAsync();
        output.WriteLine($"after an unclean fast end: grants blocked until {status.GrantsBlockedUntil:O}");
        Assert.NotNull(status.GrantsBlockedUntil);
        var refused = await afterCrash.AcquireAsync(new AcquireRequest("after-crash", Guid.NewGuid().ToString("N"), Ttl, TimeSpan.Zero));
        Assert.Null(refused.Lease);
    }

    private static string NewName() => "lock-test-" + Guid.NewGuid().ToString("N");
}

/// <summary>The lock scenarios on memory storage (the fast cluster).</summary>
[Collection(FastClusterCollection.Name)]
public sealed class LockScenariosOnMemory(FastClusterFixture cluster, ITestOutputHelper output) : LockScenarios(cluster, output);

/// <summary>The lock scenarios on Redis clustering and PostgreSQL shards.</summary>
[Collection(PostgresClusterCollection.Name)]
public sealed class LockScenariosOnPostgres(PostgresClusterFixture cluster, ITestOutputHelper output) : LockScenarios(cluster, output);
