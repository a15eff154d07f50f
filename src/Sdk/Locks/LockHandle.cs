using Granary.Locks;
using Granary.Threading;

namespace Granary.Client.Locks;

/// <summary>
/// A held lease. Renewed in the background at a third of its ttl (by one timer shared by all the
/// leases of a <see cref="DistributedLocks"/>). <see cref="LeaseLost"/> fires when the lease can no
/// longer be trusted: the lock refused a renewal, or the ttl counted from the moment the last
/// successful request was sent ran out on this client's own clock — whatever a renewal in flight is
/// doing — so a holder learns of a loss no later than one renewal interval after the lease's expiry
/// (at most a twelfth of the ttl after it, when the timer is on time). Disposing releases it.
/// </summary>
/// <example><code>
/// await using var lease = await locks.AcquireAsync("orders/42", TimeSpan.FromSeconds(30), TimeSpan.FromSeconds(10));
/// await DoWorkAsync(lease.Token, lease.LeaseLost);
/// </code></example>
public sealed class LockHandle : IAsyncDisposable
{
    private readonly ILockGrain _grain;
    private readonly DistributedLocks _owner;
    private readonly long _intervalTicks;
    private readonly long _latestExpiry;
    private CancellationTokenSource? _lost;
    private int _lostFlag;
    private int _ended;
    private long _localExpiry;
    private long _renewAt;
    private Task? _renewing;
    private TaskCompletionSource<LockReleaseOutcome>? _release;

    /// <summary>
    /// A lease the lock returned to an attempt sent at <paramref name="sentAt"/> with
    /// <paramref name="remaining"/> left on it when the lock answered (see
    /// <see cref="AcquireResult.Remaining"/>). Counting that from the send, never from the answer,
    /// keeps the local expiry no later than the lock's, whatever the clocks' offset, also for a lease
    /// granted during an earlier attempt whose answer was lost. <see cref="StartAsync"/> then makes
    /// it usable.
    /// </summary>
    internal LockHandle(ILockGrain grain, LockLease lease, long sentAt, TimeSpan remaining, DistributedLocks owner)
    {
        _grain = grain;
        _owner = owner;
        Lease = lease;
        var time = owner.Options.TimeProvider;
        _intervalTicks = DistributedLocks.Ticks(lease.Ttl / 3, time);
        _localExpiry = sentAt + DistributedLocks.Ticks(remaining < lease.Ttl ? remaining : lease.Ttl, time);
        _renewAt = _localExpiry - DistributedLocks.Ticks(lease.Ttl - (lease.Ttl / 3), time);
        _latestExpiry = time.GetTimestamp() + DistributedLocks.Ticks(remaining, time);
    }

    /// <summary>The lease as last granted or renewed.</summary>
    public LockLease Lease { get; private set; }

    /// <summary>The lock name.</summary>
    public string Name => Lease.Name;

    /// <summary>The fencing token: pass it to every resource the lock protects.</summary>
    public long Token => Lease.Token;

    /// <summary>Fires when the lease is lost (or released).</summary>
    public CancellationToken LeaseLost
    {
        get
        {
            // Made on first use: most leases are released without anyone asking for it.
            var lost = Volatile.Read(ref _lost);
            if (lost is null)
            {
                var created = new CancellationTokenSource();
                lost = Interlocked.CompareExchange(ref _lost, created, null) ?? created;
                if (!ReferenceEquals(lost, created))
                {
                    created.Dispose();
                }
                else if (IsLost)
                {
                    lost.Cancel();
                }
            }

            return lost.Token;
        }
    }

    /// <summary>
    /// True once <see cref="LeaseLost"/> has fired, or (checked on this client's clock when read)
    /// once the lease's local expiry has passed without a successful renewal.
    /// </summary>
    public bool IsLost
    {
        get
        {
            if (Volatile.Read(ref _lostFlag) == 1)
            {
                return true;
            }

            if (_owner.Options.TimeProvider.GetTimestamp() < Volatile.Read(ref _localExpiry))
            {
                return false;
            }

            MarkLost();
            return true;
        }
    }

    /// <summary>
    /// Renews now (the background renewal does this on its own), retrying unanswered or failed
    /// attempts until the lease's local expiry. <see cref="LeaseExpiredException"/> or
    /// <see cref="LeaseNotHeldException"/>: the lease is lost. <see cref="LockUnavailableException"/>:
    /// no attempt was answered before the lease's local expiry. Cancelling <paramref name="cancellationToken"/>
    /// stops the attempts with <see cref="OperationCanceledException"/>; the lease stays held until its
    /// background renewal or expiry decides (an attempt already sent may still have renewed it).
    /// </summary>
    public Task<LockLease> RenewAsync(CancellationToken cancellationToken = default) => RenewCoreAsync(Volatile.Read(ref _localExpiry), cancellationToken);

    /// <summary>
    /// Releases the lease (once; later calls return the same task) and stops renewing it;
    /// <see cref="LeaseLost"/> fires at once. Attempts that fail or go unanswered (a lost silo or
    /// gateway, a storage failure) are retried until the lease's local expiry: after that the lock
    /// frees itself. Never throws, except <see cref="OperationCanceledException"/> when
    /// <paramref name="cancellationToken"/> is cancelled first: that stops this caller's wait only, the
    /// release goes on in the background (a later call returns its outcome).
    /// </summary>
    public Task<LockReleaseOutcome> ReleaseAsync(CancellationToken cancellationToken = default)
    {
        var release = Volatile.Read(ref _release);
        if (release is null)
        {
            var created = new TaskCompletionSource<LockReleaseOutcome>();
            release = Interlocked.CompareExchange(ref _release, created, null) ?? created;
            if (ReferenceEquals(release, created))
            {
                _ = ReleaseCoreAsync(created);
            }
        }

        return release.Task.WaitAsync(cancellationToken);
    }

    /// <summary>
    /// <see cref="ReleaseAsync"/>, waiting up to <see cref="DistributedLockOptions.ReleaseWait"/> for
    /// the outcome; a release still unconfirmed by then goes on in the background. Never throws.
    /// </summary>
    public async ValueTask DisposeAsync()
    {
        var release = ReleaseAsync();
        if (release.IsCompleted)
        {
            return;
        }

        try
        {
            await release.WaitAsync(_owner.Options.ReleaseWait, _owner.Options.TimeProvider);
        }
        catch (TimeoutException)
        {
            // Still retrying in the background, until the lease's local expiry.
        }
    }

    /// <summary>
    /// Before the handle is handed out. A lease answered long after its attempt was sent (granted at
    /// the end of a long wait, or during an earlier attempt) has a local expiry too close to be of use:
    /// renew it at once, retrying while the lease may still run (the lock answered before we received
    /// it, so it ends by then plus what it had left). Then starts renewing. False when the lease ended
    /// before it could be confirmed; <see cref="LockUnavailableException"/> when no renewal was answered.
    /// </summary>
    internal async ValueTask<bool> StartAsync()
    {
        var time = _owner.Options.TimeProvider;
        var ttlTicks = DistributedLocks.Ticks(Lease.Ttl, time);
        if (Volatile.Read(ref _localExpiry) - time.GetTimestamp() < ttlTicks - (ttlTicks / 4))
        {
            try
            {
                await RenewCoreAsync(_latestExpiry, CancellationToken.None);
            }
            catch (Exception ex) when (ex is LeaseExpiredException or LeaseNotHeldException)
            {
                return false;
            }
        }

        _owner.Renewals.Add(this, Lease.Ttl);
        return true;
    }

    /// <summary>Called by the shared renewal timer: gives up at the local expiry, renews when due.</summary>
    internal void OnTick(long now)
    {
        if (Volatile.Read(ref _release) is not null || Volatile.Read(ref _lostFlag) == 1)
        {
            _owner.Renewals.Remove(this);
            return;
        }

        // By this client's clock alone: a renewal that hangs (its gateway died) or keeps failing
        // does not postpone the loss.
        if (now >= Volatile.Read(ref _localExpiry))
        {
            MarkLost();
            return;
        }

        if (Volatile.Read(ref _renewing) is { IsCompleted: false })
        {
            return;
        }

        if (_owner.Options.AutoRenew && now >= Volatile.Read(ref _renewAt))
        {
            Volatile.Write(ref _renewing, RenewInBackgroundAsync());
        }
    }

    private async Task RenewInBackgroundAsync()
    {
        try
        {
            await RenewCoreAsync(Volatile.Read(ref _localExpiry), CancellationToken.None);
        }
        catch (Exception ex) when (ex is not OutOfMemoryException)
        {
            // Refused: the lease was marked lost. Unanswered: the timer marks it lost at its local expiry.
        }
    }

    private async Task<LockLease> RenewCoreAsync(long retryUntil, CancellationToken cancellationToken)
    {
        var time = _owner.Options.TimeProvider;
        var renewal = new Renewal(this);
        try
        {
            var renewed = await _owner.Calls.RunAsync(static (renewal, token) => renewal.SendAsync(token), renewal, retryUntil, cancellationToken);
            Lease = renewed;
            ExtendLocalExpiry(renewal.SentAt + DistributedLocks.Ticks(renewed.Ttl, time));
            Volatile.Write(ref _renewAt, time.GetTimestamp() + _intervalTicks);
            return renewed;
        }
        catch (Exception ex) when (ex is LeaseExpiredException or LeaseNotHeldException)
        {
            Volatile.Write(ref _ended, 1);
            MarkLost();
            throw;
        }
        catch (Exception ex) when (LockCallPolicy.IsRetryable(ex))
        {
            throw new LockUnavailableException(Name, $"no renewal answered before the lease's expiry ({renewal.Attempts} attempts; last: {ex.GetType().Name}: {ex.Message})");
        }
    }

    private async Task ReleaseCoreAsync(TaskCompletionSource<LockReleaseOutcome> done)
    {
        _owner.Renewals.Remove(this);
        MarkLost();
        var outcome = LockReleaseOutcome.AlreadyEnded;
        if (Volatile.Read(ref _ended) == 0)
        {
            try
            {
                await _owner.Calls.RunAsync(
                    static (handle, token) => handle._owner.Bounded(handle._grain.ReleaseAsync(handle.Lease.Owner, handle.Lease.Token), handle._owner.Options.CallTimeout, token),
                    this,
                    Volatile.Read(ref _localExpiry),
                    CancellationToken.None);
                outcome = LockReleaseOutcome.Released;
            }
            catch (Exception ex) when (ex is LeaseExpiredException or LeaseNotHeldException)
            {
                outcome = LockReleaseOutcome.AlreadyEnded;
            }
            catch (Exception ex) when (ex is not OutOfMemoryException)
            {
                outcome = LockReleaseOutcome.LeftToExpire;
            }
        }

        done.TrySetResult(outcome);
    }

    private void ExtendLocalExpiry(long until) => AtomicMax.Raise(ref _localExpiry, until);

    private void MarkLost()
    {
        if (Interlocked.Exchange(ref _lostFlag, 1) == 1)
        {
            return;
        }

        _owner.Renewals.Remove(this);

        try
        {
            Volatile.Read(ref _lost)?.Cancel();
        }
        catch (ObjectDisposedException)
        {
            // Already finished.
        }
    }

    /// <summary>One renewal and its attempts, each bounded by the call timeout or a renewal interval, whichever is shorter.</summary>
    private sealed class Renewal(LockHandle handle)
    {
        /// <summary>When the latest attempt was sent: a renewal it got cannot have started earlier.</summary>
        public long SentAt { get; private set; }

        /// <summary>Attempts sent so far.</summary>
        public int Attempts { get; private set; }

        public Task<LockLease> SendAsync(CancellationToken cancellationToken)
        {
            var options = handle._owner.Options;
            var interval = handle.Lease.Ttl / 3;
            Attempts++;
            SentAt = options.TimeProvider.GetTimestamp();
            var lease = handle.Lease;
            return handle._owner.Bounded(handle._grain.RenewAsync(lease.Owner, lease.Token, lease.Ttl), interval < options.CallTimeout ? interval : options.CallTimeout, cancellationToken);
        }
    }
}

/// <summary>How a <see cref="LockHandle.ReleaseAsync"/> ended.</summary>
public enum LockReleaseOutcome
{
    /// <summary>The lock confirmed the release: it is free, or handed to the next waiter.</summary>
    Released,

    /// <summary>The lease had already ended (expired, or its renewal was refused) before the release; nothing was held.</summary>
    AlreadyEnded,

    /// <summary>No attempt was confirmed before the lease's local expiry (the cluster was unreachable): the lock frees itself when the lease expires.</summary>
    LeftToExpire,
}

/// <summary>Several leases acquired all-or-nothing; disposing releases them all (in reverse order).</summary>
public sealed class MultiLockHandle : IAsyncDisposable
{
    internal MultiLockHandle(IReadOnlyList<LockHandle> handles) => Handles = handles;

    /// <summary>The leases, in acquisition (ordinal name) order.</summary>
    public IReadOnlyList<LockHandle> Handles { get; }

    /// <inheritdoc/>
    public async ValueTask DisposeAsync()
    {
        for (var i = Handles.Count - 1; i >= 0; i--)
        {
            await Handles[i].DisposeAsync();
        }
    }
}
