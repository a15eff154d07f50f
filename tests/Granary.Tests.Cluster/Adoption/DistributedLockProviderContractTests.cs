using Granary.Client.DependencyInjection;
using Granary.Client.Locks;
using Granary.Locks;
using Granary.Tests.Cluster.Infrastructure;
using Medallion.Threading;
using Microsoft.Extensions.DependencyInjection;

namespace Granary.Tests.Cluster.Adoption;

/// <summary>
/// DistributedLock.Core's documented contract for <see cref="IDistributedLockProvider"/>,
/// <see cref="IDistributedSemaphoreProvider"/> and <see cref="IDistributedReaderWriterLockProvider"/>,
/// run against <see cref="GranaryDistributedLockProvider"/>. Two providers over two
/// <see cref="DistributedLocks"/> (two owners) stand for two processes.
/// </summary>
public sealed class DistributedLockProviderContractTests(AdoptionClusterFixture fixture) : IClassFixture<AdoptionClusterFixture>
{
    private static readonly TimeSpan Short = TimeSpan.FromMilliseconds(200);

    // A waiter is handed the lock by push when the holder releases: well within a call's bound.
    private static readonly TimeSpan HandOff = TimeSpan.FromSeconds(10);

    private GranaryDistributedLockProvider NewProvider(GranaryDistributedLockProviderOptions? options = null) =>
        new(new DistributedLocks(fixture.Grains), options);

    private static string Unique(string what) => what + "-" + Guid.NewGuid().ToString("N")[..12];

    [Fact]
    public async Task TryAcquire_returns_null_while_held_elsewhere_and_a_handle_once_released()
    {
        var name = Unique("lock");
        IDistributedLockProvider a = NewProvider(), b = NewProvider();
        var held = await a.CreateLock(name).TryAcquireAsync();
        Assert.NotNull(held);
        Assert.Null(await b.CreateLock(name).TryAcquireAsync());
        Assert.Null(b.CreateLock(name).TryAcquire(Short));

        await held.DisposeAsync();
        using var now = b.CreateLock(name).TryAcquire();
        Assert.NotNull(now);
    }

    [Fact]
    public async Task Handles_are_not_reentrant_even_from_the_same_provider()
    {
        var name = Unique("lock");
        var provider = NewProvider();
        await using var held = await provider.CreateLock(name).AcquireAsync();
        Assert.Null(await provider.CreateLock(name).TryAcquireAsync(Short));
        Assert.Null(await provider.CreateLock(name).TryAcquireAsync());
    }

    [Fact]
    public async Task Acquire_times_out_with_TimeoutException_and_honours_cancellation()
    {
        var name = Unique("lock");
        await using var held = await NewProvider().CreateLock(name).AcquireAsync(TimeSpan.FromSeconds(5));
        var other = NewProvider().CreateLock(name);
        await Assert.ThrowsAsync<TimeoutException>(async () => await other.AcquireAsync(Short));
        Assert.Throws<TimeoutException>(() => other.Acquire(TimeSpan.Zero));

        using var cancel = new CancellationTokenSource(Short);
        await Assert.ThrowsAnyAsync<OperationCanceledException>(async () => await other.AcquireAsync(cancellationToken: cancel.Token));
        await Assert.ThrowsAnyAsync<OperationCanceledException>(async () => await other.TryAcquireAsync(TimeSpan.FromSeconds(30), cancel.Token));
        await Assert.ThrowsAsync<ArgumentOutOfRangeException>(async () => await other.TryAcquireAsync(TimeSpan.FromSeconds(-2)));
    }

    [Fact]
    public async Task Disposing_the_handle_hands_the_lock_to_a_waiter()
    {
        var name = Unique("lock");
        var holder = NewProvider();
        var held = await holder.CreateLock(name).AcquireAsync();
        var waiter = NewProvider().CreateLock(name).AcquireAsync(HandOff).AsTask();
        await Eventually.TrueAsync("the second acquirer is queued", async () => (await holder.Locks.StatusAsync(name)).Waiters.Count == 1, HandOff);
        Assert.False(waiter.IsCompleted);

        held.Dispose();
        await using var next = await waiter.WaitAsync(HandOff);
        Assert.True(next.HandleLostToken.CanBeCanceled);
        Assert.False(next.HandleLostToken.IsCancellationRequested);
        Assert.Throws<ObjectDisposedException>(() => held.HandleLostToken);
    }

    [Fact]
    public async Task HandleLostToken_fires_when_the_lease_is_lost()
    {
        var name = Unique("lock");
        var ttl = TimeSpan.FromSeconds(3);
        var provider = NewProvider(new GranaryDistributedLockProviderOptions { LeaseTtl = ttl });
        await using var handle = (GranaryDistributedLockHandle)await provider.CreateLock(name).AcquireAsync();
        var lost = handle.HandleLostToken;

        // The lease ends behind the holder's back (as when a lock is forced free): its next renewal is refused.
        await fixture.Grains.GetGrain<ILockGrain>(name).ReleaseAsync(provider.Locks.Owner, handle.Token);
        await Eventually.TrueAsync("the handle reports its lease lost", () => lost.IsCancellationRequested, ttl + ttl);
    }

    [Fact]
    public async Task A_semaphore_admits_exactly_max_count_holders()
    {
        var name = Unique("sem");
        IDistributedSemaphoreProvider a = NewProvider(), b = NewProvider();
        var holders = new List<IDistributedSynchronizationHandle>();
        for (var i = 0; i < 3; i++)
        {
            holders.Add(Assert.IsType<GranaryDistributedLockHandle>(await (i % 2 == 0 ? a : b).CreateSemaphore(name, 3).TryAcquireAsync()));
        }

        Assert.Null(await b.CreateSemaphore(name, 3).TryAcquireAsync(Short));
        Assert.Equal(3, a.CreateSemaphore(name, 3).MaxCount);
        await holders[0].DisposeAsync();
        await using var fourth = await b.CreateSemaphore(name, 3).AcquireAsync(HandOff);
        Assert.Null(await a.CreateSemaphore(name, 3).TryAcquireAsync());
        foreach (var holder in holders.Skip(1))
        {
            await holder.DisposeAsync();
        }

        Assert.Throws<ArgumentOutOfRangeException>(() => a.CreateSemaphore(name, 0));
        Assert.Throws<ArgumentOutOfRangeException>(() => a.CreateSemaphore(name, Limits.Locks.MaxPermits + 1));
    }

    [Fact]
    public async Task Readers_share_and_a_writer_excludes_readers_and_writers()
    {
        var name = Unique("rw");
        IDistributedReaderWriterLockProvider a = NewProvider(), b = NewProvider();
        var read1 = await a.CreateReaderWriterLock(name).AcquireReadLockAsync(HandOff);
        var read2 = await b.CreateReaderWriterLock(name).TryAcquireReadLockAsync();
        Assert.NotNull(read2);
        Assert.Null(await b.CreateReaderWriterLock(name).TryAcquireWriteLockAsync(Short));

        await read1.DisposeAsync();
        await read2.DisposeAsync();
        var write = b.CreateReaderWriterLock(name).AcquireWriteLock(HandOff);
        Assert.Null(await a.CreateReaderWriterLock(name).TryAcquireReadLockAsync());
        Assert.Null(a.CreateReaderWriterLock(name).TryAcquireWriteLock());

        write.Dispose();
        await using var readAgain = await a.CreateReaderWriterLock(name).TryAcquireReadLockAsync(HandOff);
        Assert.NotNull(readAgain);
    }

    [Fact]
    public async Task Any_string_names_a_lock_deterministically()
    {
        IDistributedLockProvider a = NewProvider(), b = NewProvider();
        var suffix = Guid.NewGuid().ToString("N");
        string[] names = [new string('n', 300) + suffix, "lone\uD800" + suffix, "nul\0" + suffix, "sha256:" + suffix];
        var held = new List<IDistributedSynchronizationHandle>();
        foreach (var name in names)
        {
            var lockOfA = a.CreateLock(name);
            Assert.Equal(name, lockOfA.Name);
            held.Add(Assert.IsType<GranaryDistributedLockHandle>(await lockOfA.TryAcquireAsync()));
        }

        // The same names from another process meet the same locks; none of them excluded another.
        foreach (var name in names)
        {
            Assert.Null(await b.CreateLock(name).TryAcquireAsync());
        }

        foreach (var handle in held)
        {
            await handle.DisposeAsync();
        }

        Assert.Throws<ArgumentNullException>(() => a.CreateLock(null!));
    }

    [Fact]
    public void One_registration_provides_all_three_interfaces()
    {
        var services = new ServiceCollection();
        services.AddSingleton(fixture.Grains);
        services.AddGranaryDistributedLocks(o => o.LeaseTtl = TimeSpan.FromSeconds(20));
        using var provider = services.BuildServiceProvider();
        var locks = provider.GetRequiredService<IDistributedLockProvider>();
        Assert.IsType<GranaryDistributedLockProvider>(locks);
        Assert.Same(locks, provider.GetRequiredService<IDistributedSemaphoreProvider>());
        Assert.Same(locks, provider.GetRequiredService<IDistributedReaderWriterLockProvider>());
        Assert.Equal(TimeSpan.FromSeconds(20), ((GranaryDistributedLockProvider)locks).Options.LeaseTtl);
        Assert.Throws<Granary.Errors.InvalidRequestException>(() => new ServiceCollection().AddGranaryDistributedLocks(o => o.LeaseTtl = TimeSpan.Zero));
    }
}
