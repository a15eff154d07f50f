using Granary.Client.Naming;
using Granary.Errors;
using Medallion.Threading;

namespace Granary.Client.Locks;

/// <summary>
/// DistributedLock.Core's providers over Granary's lock leases, so code written against
/// <c>IDistributedLockProvider</c>, <c>IDistributedSemaphoreProvider</c> or
/// <c>IDistributedReaderWriterLockProvider</c> (madelson/DistributedLock) runs on Granary by changing
/// the registration. Each lock is a Granary lock of the same name (a mutex, a semaphore or a
/// reader-writer lock): FIFO-fair, renewed in the background while held, with a fencing token on the
/// handle (<see cref="GranaryDistributedLockHandle.Token"/>).
/// </summary>
/// <remarks>
/// <para><b>Names.</b> Any string: a name Granary accepts as it is (1..256 characters, storable
/// text) names the Granary lock of that name, as <c>granary lock status</c> shows it; any other is
/// replaced by <c>sha256:</c> and its hash, deterministically. Mutexes, semaphores and reader-writer
/// locks share one namespace: using one name as two kinds at once (or a semaphore with two max
/// counts) is refused with <see cref="Granary.Locks.LockKindMismatchException"/>.</para>
/// <para><b>Timeouts.</b> As DistributedLock defines them: <c>TryAcquire</c> defaults to zero (one
/// attempt), <c>Acquire</c> to infinite and throws <see cref="TimeoutException"/> when its timeout
/// passes; a negative timeout other than <see cref="Timeout.InfiniteTimeSpan"/> is an
/// <see cref="ArgumentOutOfRangeException"/>; cancellation throws <see cref="OperationCanceledException"/>
/// and leaves the lock's queue. Waits longer than <see cref="GranaryDistributedLockProviderOptions.WaitSlice"/>
/// are made of successive acquires of at most that long.</para>
/// <para><b>Handles</b> are not reentrant: a second acquire of a held lock waits, also from the same
/// provider. Disposing releases. <c>HandleLostToken</c> fires when the lease is lost (a renewal
/// refused, or its ttl passed without one).</para>
/// <para><b>Synchronous methods</b> block the calling thread on the asynchronous ones.</para>
/// </remarks>
public sealed class GranaryDistributedLockProvider : IDistributedLockProvider, IDistributedSemaphoreProvider, IDistributedReaderWriterLockProvider
{
    /// <summary>A provider over <paramref name="locks"/>.</summary>
    public GranaryDistributedLockProvider(DistributedLocks locks, GranaryDistributedLockProviderOptions? options = null)
    {
        ArgumentNullException.ThrowIfNull(locks);
        Locks = locks;
        Options = options ?? new GranaryDistributedLockProviderOptions();
        Options.Validate();
    }

    /// <summary>The lock client the locks acquire through.</summary>
    public DistributedLocks Locks { get; }

    /// <summary>The settings.</summary>
    public GranaryDistributedLockProviderOptions Options { get; }

    /// <inheritdoc/>
    public IDistributedLock CreateLock(string name) => new GranaryDistributedLock(name, this);

    /// <inheritdoc/>
    public IDistributedSemaphore CreateSemaphore(string name, int maxCount) => new GranaryDistributedSemaphore(name, maxCount, this);

    /// <inheritdoc/>
    public IDistributedReaderWriterLock CreateReaderWriterLock(string name) => new GranaryDistributedReaderWriterLock(name, this);

    /// <summary>
    /// Acquires through <paramref name="acquire"/> (name, ttl, wait), within <paramref name="timeout"/>
    /// (<see cref="Timeout.InfiniteTimeSpan"/>: until granted or cancelled), in slices of at most
    /// <see cref="GranaryDistributedLockProviderOptions.WaitSlice"/>; null when the timeout passes.
    /// </summary>
    internal async ValueTask<IDistributedSynchronizationHandle?> TryAcquireAsync(
        string name,
        TimeSpan timeout,
        Func<DistributedLocks, string, TimeSpan, TimeSpan, CancellationToken, Task<LockHandle?>> acquire,
        CancellationToken cancellationToken)
    {
        var infinite = timeout == Timeout.InfiniteTimeSpan;
        if (!infinite && (timeout < TimeSpan.Zero || timeout.TotalMilliseconds > int.MaxValue))
        {
            throw new ArgumentOutOfRangeException(nameof(timeout), timeout, "must be non-negative and at most int.MaxValue milliseconds, or Timeout.InfiniteTimeSpan");
        }

        cancellationToken.ThrowIfCancellationRequested();
        var time = Locks.Options.TimeProvider;
        var started = time.GetTimestamp();
        while (true)
        {
            var remaining = infinite ? Options.WaitSlice : timeout - time.GetElapsedTime(started);
            var last = !infinite && remaining <= Options.WaitSlice;
            var wait = remaining < TimeSpan.Zero ? TimeSpan.Zero : last ? remaining : Options.WaitSlice;
            var lease = await acquire(Locks, name, Options.LeaseTtl, wait, cancellationToken);
            if (lease is not null)
            {
                return new GranaryDistributedLockHandle(lease);
            }

            if (last)
            {
                return null;
            }
        }
    }

    /// <summary>The timeout <c>Acquire</c> waits: infinite when none is given.</summary>
    internal static TimeSpan AcquireTimeout(TimeSpan? timeout) => timeout ?? Timeout.InfiniteTimeSpan;

    /// <summary>The handle, or <see cref="TimeoutException"/> as DistributedLock's Acquire methods fail.</summary>
    internal static async ValueTask<IDistributedSynchronizationHandle> OrTimeout(ValueTask<IDistributedSynchronizationHandle?> acquire, string what, TimeSpan? timeout) =>
        await acquire ?? throw new TimeoutException($"Timeout exceeded when trying to acquire the {what} (waited {timeout})");

    /// <summary>The Granary lock name for <paramref name="name"/>.</summary>
    internal static string MapName(string name) => ForeignNames.Map(name ?? throw new ArgumentNullException(nameof(name)));
}

/// <summary>Settings of <see cref="GranaryDistributedLockProvider"/>.</summary>
public sealed class GranaryDistributedLockProviderOptions
{
    /// <summary>
    /// The ttl of each lease: renewed in the background at a third of it while the handle is held;
    /// after a holder's process dies the lock frees itself within this long. Default 30 s; 1 s to
    /// <see cref="Limits.Locks.MaxConfigurableTtl"/> (and at most the cluster's <c>Granary:Locks:MaxTtl</c>, 5 min by default).
    /// </summary>
    public TimeSpan LeaseTtl { get; set; } = TimeSpan.FromSeconds(30);

    /// <summary>
    /// The longest wait of one acquire request: longer timeouts (and infinite ones) are waited in
    /// successive requests of at most this long, each of which joins the end of the lock's queue.
    /// Default 1 h, the cluster's default <c>Granary:Locks:MaxWait</c> (keep it at most that); 1 s to
    /// <see cref="Limits.Locks.MaxConfigurableWait"/>.
    /// </summary>
    public TimeSpan WaitSlice { get; set; } = TimeSpan.FromHours(1);

    /// <summary>Throws <see cref="InvalidRequestException"/> for a setting out of range.</summary>
    public void Validate()
    {
        Guard.InRange(LeaseTtl, nameof(LeaseTtl), TimeSpan.FromSeconds(1), Limits.Locks.MaxConfigurableTtl);
        Guard.InRange(WaitSlice, nameof(WaitSlice), TimeSpan.FromSeconds(1), Limits.Locks.MaxConfigurableWait);
    }
}

/// <summary>A held Granary lease as DistributedLock's handle: disposing releases it.</summary>
public sealed class GranaryDistributedLockHandle : IDistributedSynchronizationHandle
{
    private readonly LockHandle _lease;
    private int _disposed;

    internal GranaryDistributedLockHandle(LockHandle lease) => _lease = lease;

    /// <summary>The fencing token of the lease: pass it to resources that check tokens.</summary>
    public long Token => _lease.Token;

    /// <summary>The Granary lease (name, owner, expiry).</summary>
    public Granary.Locks.LockLease Lease => _lease.Lease;

    /// <inheritdoc/>
    /// <exception cref="ObjectDisposedException">The handle was disposed.</exception>
    public CancellationToken HandleLostToken
    {
        get
        {
            ObjectDisposedException.ThrowIf(Volatile.Read(ref _disposed) == 1, this);
            return _lease.LeaseLost;
        }
    }

    /// <summary>Releases the lease, blocking until the lock confirms it (up to <see cref="DistributedLockOptions.ReleaseWait"/>).</summary>
    public void Dispose() => DisposeAsync().AsTask().GetAwaiter().GetResult();

    /// <summary>Releases the lease (once); see <see cref="LockHandle.DisposeAsync"/>.</summary>
    public ValueTask DisposeAsync() =>
        Interlocked.Exchange(ref _disposed, 1) == 0 ? _lease.DisposeAsync() : ValueTask.CompletedTask;
}

/// <summary>A Granary mutex as DistributedLock's <see cref="IDistributedLock"/>.</summary>
public sealed class GranaryDistributedLock : IDistributedLock
{
    private readonly GranaryDistributedLockProvider _provider;
    private readonly string _granaryName;

    /// <summary>The lock <paramref name="name"/> of <paramref name="provider"/>.</summary>
    public GranaryDistributedLock(string name, GranaryDistributedLockProvider provider)
    {
        ArgumentNullException.ThrowIfNull(provider);
        _granaryName = GranaryDistributedLockProvider.MapName(name);
        Name = name;
        _provider = provider;
    }

    /// <inheritdoc/>
    public string Name { get; }

    /// <inheritdoc/>
    public IDistributedSynchronizationHandle? TryAcquire(TimeSpan timeout = default, CancellationToken cancellationToken = default) =>
        TryAcquireAsync(timeout, cancellationToken).AsTask().GetAwaiter().GetResult();

    /// <inheritdoc/>
    public IDistributedSynchronizationHandle Acquire(TimeSpan? timeout = null, CancellationToken cancellationToken = default) =>
        AcquireAsync(timeout, cancellationToken).AsTask().GetAwaiter().GetResult();

    /// <inheritdoc/>
    public ValueTask<IDistributedSynchronizationHandle?> TryAcquireAsync(TimeSpan timeout = default, CancellationToken cancellationToken = default) =>
        _provider.TryAcquireAsync(_granaryName, timeout, static (locks, name, ttl, wait, ct) => locks.TryAcquireAsync(name, ttl, wait, ct), cancellationToken);

    /// <inheritdoc/>
    public ValueTask<IDistributedSynchronizationHandle> AcquireAsync(TimeSpan? timeout = null, CancellationToken cancellationToken = default) =>
        GranaryDistributedLockProvider.OrTimeout(TryAcquireAsync(GranaryDistributedLockProvider.AcquireTimeout(timeout), cancellationToken), $"lock '{Name}'", timeout);
}

/// <summary>A Granary semaphore as DistributedLock's <see cref="IDistributedSemaphore"/>.</summary>
public sealed class GranaryDistributedSemaphore : IDistributedSemaphore
{
    private readonly GranaryDistributedLockProvider _provider;
    private readonly string _granaryName;

    /// <summary>The semaphore <paramref name="name"/> of <paramref name="maxCount"/> tickets (1..<see cref="Limits.Locks.MaxPermits"/>).</summary>
    public GranaryDistributedSemaphore(string name, int maxCount, GranaryDistributedLockProvider provider)
    {
        ArgumentNullException.ThrowIfNull(provider);
        ArgumentOutOfRangeException.ThrowIfLessThan(maxCount, 1);
        ArgumentOutOfRangeException.ThrowIfGreaterThan(maxCount, Limits.Locks.MaxPermits);
        _granaryName = GranaryDistributedLockProvider.MapName(name);
        Name = name;
        MaxCount = maxCount;
        _provider = provider;
    }

    /// <inheritdoc/>
    public string Name { get; }

    /// <inheritdoc/>
    public int MaxCount { get; }

    /// <inheritdoc/>
    public IDistributedSynchronizationHandle? TryAcquire(TimeSpan timeout = default, CancellationToken cancellationToken = default) =>
        TryAcquireAsync(timeout, cancellationToken).AsTask().GetAwaiter().GetResult();

    /// <inheritdoc/>
    public IDistributedSynchronizationHandle Acquire(TimeSpan? timeout = null, CancellationToken cancellationToken = default) =>
        AcquireAsync(timeout, cancellationToken).AsTask().GetAwaiter().GetResult();

    /// <inheritdoc/>
    public ValueTask<IDistributedSynchronizationHandle?> TryAcquireAsync(TimeSpan timeout = default, CancellationToken cancellationToken = default)
    {
        var permits = MaxCount;
        return _provider.TryAcquireAsync(_granaryName, timeout, (locks, name, ttl, wait, ct) => locks.TryAcquireSemaphoreAsync(name, permits, ttl, wait, ct), cancellationToken);
    }

    /// <inheritdoc/>
    public ValueTask<IDistributedSynchronizationHandle> AcquireAsync(TimeSpan? timeout = null, CancellationToken cancellationToken = default) =>
        GranaryDistributedLockProvider.OrTimeout(TryAcquireAsync(GranaryDistributedLockProvider.AcquireTimeout(timeout), cancellationToken), $"semaphore '{Name}'", timeout);
}

/// <summary>A Granary reader-writer lock as DistributedLock's <see cref="IDistributedReaderWriterLock"/> (queued writers are not starved by later readers).</summary>
public sealed class GranaryDistributedReaderWriterLock : IDistributedReaderWriterLock
{
    private readonly GranaryDistributedLockProvider _provider;
    private readonly string _granaryName;

    /// <summary>The reader-writer lock <paramref name="name"/> of <paramref name="provider"/>.</summary>
    public GranaryDistributedReaderWriterLock(string name, GranaryDistributedLockProvider provider)
    {
        ArgumentNullException.ThrowIfNull(provider);
        _granaryName = GranaryDistributedLockProvider.MapName(name);
        Name = name;
        _provider = provider;
    }

    /// <inheritdoc/>
    public string Name { get; }

    /// <inheritdoc/>
    public IDistributedSynchronizationHandle? TryAcquireReadLock(TimeSpan timeout = default, CancellationToken cancellationToken = default) =>
        TryAcquireReadLockAsync(timeout, cancellationToken).AsTask().GetAwaiter().GetResult();

    /// <inheritdoc/>
    public IDistributedSynchronizationHandle AcquireReadLock(TimeSpan? timeout = null, CancellationToken cancellationToken = default) =>
        AcquireReadLockAsync(timeout, cancellationToken).AsTask().GetAwaiter().GetResult();

    /// <inheritdoc/>
    public ValueTask<IDistributedSynchronizationHandle?> TryAcquireReadLockAsync(TimeSpan timeout = default, CancellationToken cancellationToken = default) =>
        _provider.TryAcquireAsync(_granaryName, timeout, static (locks, name, ttl, wait, ct) => locks.TryAcquireReadAsync(name, ttl, wait, ct), cancellationToken);

    /// <inheritdoc/>
    public ValueTask<IDistributedSynchronizationHandle> AcquireReadLockAsync(TimeSpan? timeout = null, CancellationToken cancellationToken = default) =>
        GranaryDistributedLockProvider.OrTimeout(TryAcquireReadLockAsync(GranaryDistributedLockProvider.AcquireTimeout(timeout), cancellationToken), $"read lock '{Name}'", timeout);

    /// <inheritdoc/>
    public IDistributedSynchronizationHandle? TryAcquireWriteLock(TimeSpan timeout = default, CancellationToken cancellationToken = default) =>
        TryAcquireWriteLockAsync(timeout, cancellationToken).AsTask().GetAwaiter().GetResult();

    /// <inheritdoc/>
    public IDistributedSynchronizationHandle AcquireWriteLock(TimeSpan? timeout = null, CancellationToken cancellationToken = default) =>
        AcquireWriteLockAsync(timeout, cancellationToken).AsTask().GetAwaiter().GetResult();

    /// <inheritdoc/>
    public ValueTask<IDistributedSynchronizationHandle?> TryAcquireWriteLockAsync(TimeSpan timeout = default, CancellationToken cancellationToken = default) =>
        _provider.TryAcquireAsync(_granaryName, timeout, static (locks, name, ttl, wait, ct) => locks.TryAcquireWriteAsync(name, ttl, wait, ct), cancellationToken);

    /// <inheritdoc/>
    public ValueTask<IDistributedSynchronizationHandle> AcquireWriteLockAsync(TimeSpan? timeout = null, CancellationToken cancellationToken = default) =>
        GranaryDistributedLockProvider.OrTimeout(TryAcquireWriteLockAsync(GranaryDistributedLockProvider.AcquireTimeout(timeout), cancellationToken), $"write lock '{Name}'", timeout);
}
