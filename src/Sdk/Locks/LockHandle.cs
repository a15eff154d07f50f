using Granary.Locks;

namespace Granary.Sdk.Locks;

/// <summary>
/// A held lease. Renewed in the background at a third of its ttl (by one timer shared by all the
/// leases of a <see cref="DistributedLocks"/>); <see cref="LeaseLost"/> fires when the lease can no
/// longer be trusted (the server refused a renewal, or renewals failed until the ttl counted from
/// the moment the request was sent ran out). Disposing releases it.
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
    private CancellationTokenSource? _lost;
    private int _lostFlag;
    private long _localExpiry;
    private long _renewAt;
    private long _retryTicks;
    private int _disposed;
    private Task? _renewing;

    internal LockHandle(ILockGrain grain, LockLease lease, long sentAt, DistributedLocks owner)
    {
        _grain = grain;
        _owner = owner;
        Lease = lease;
        var time = owner.Options.TimeProvider;
        _intervalTicks = ToTicks(lease.Ttl / 3, time);
        _retryTicks = _intervalTicks;
        // Count the ttl from when the request was sent: the server's clock may run ahead of ours.
        _localExpiry = sentAt + ToTicks(lease.Ttl, time);
        _renewAt = sentAt + _retryTicks;
        // A grant that came after a long wait may have been made long after the request was sent:
        // the bound above is then too early, so renew at once to get a fresh one (before the timer
        // sees this lease, so that it does not start a second renewal).
        if (time.GetElapsedTime(sentAt) > lease.Ttl / 4)
        {
            _renewing = RenewInBackgroundAsync(confirming: true);
        }

        owner.Renewals.Add(this, lease.Ttl);
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
                else if (Volatile.Read(ref _lostFlag) == 1)
                {
                    lost.Cancel();
                }
            }

            return lost.Token;
        }
    }

    /// <summary>True once <see cref="LeaseLost"/> has fired.</summary>
    public bool IsLost => Volatile.Read(ref _lostFlag) == 1;

    /// <summary>Renews now (the background renewal does this on its own).</summary>
    public async Task<LockLease> RenewAsync()
    {
        var time = _owner.Options.TimeProvider;
        var sentAt = time.GetTimestamp();
        try
        {
            var renewed = await _owner.Bounded(_grain.RenewAsync(Lease.Owner, Lease.Token, Lease.Ttl), CancellationToken.None);
            Lease = renewed;
            Volatile.Write(ref _localExpiry, sentAt + ToTicks(renewed.Ttl, time));
            return renewed;
        }
        catch (Exception ex) when (ex is LeaseExpiredException or LeaseNotHeldException)
        {
            MarkLost();
            throw;
        }
    }

    /// <summary>Stops renewing and releases the lease (a lease already lost is not released again).</summary>
    public async ValueTask DisposeAsync()
    {
        if (Interlocked.Exchange(ref _disposed, 1) == 1)
        {
            return;
        }

        _owner.Renewals.Remove(this);
        if (Volatile.Read(ref _renewing) is { } renewing)
        {
            await renewing.ConfigureAwait(ConfigureAwaitOptions.SuppressThrowing);
        }

        // Retry through transient failures (silo loss) while the lease can still be ours: a release
        // that never arrives leaves the lock held until its expiry.
        var time = _owner.Options.TimeProvider;
        var attempt = 0;
        while (!IsLost && time.GetTimestamp() < Volatile.Read(ref _localExpiry))
        {
            try
            {
                await _owner.Bounded(_grain.ReleaseAsync(Lease.Owner, Lease.Token), CancellationToken.None);
                break;
            }
            catch (Exception ex) when (ex is LeaseExpiredException or LeaseNotHeldException)
            {
                break;
            }
            catch (Exception ex) when (DistributedLocks.IsTransient(ex))
            {
                attempt++;
                await Task.Delay(TimeSpan.FromMilliseconds(Math.Min(500, 50 * attempt)), time);
            }
        }

        MarkLost();
    }

    /// <summary>Called by the shared renewal timer: renews when due, gives up at the local expiry.</summary>
    internal void OnTick(long now)
    {
        if (Volatile.Read(ref _disposed) == 1 || IsLost)
        {
            // Lost before the timer first saw it (a confirming renewal that failed at once).
            _owner.Renewals.Remove(this);
            return;
        }

        if (Volatile.Read(ref _renewing) is { IsCompleted: false })
        {
            return;
        }

        if (now >= Volatile.Read(ref _localExpiry))
        {
            MarkLost();
            return;
        }

        if (_owner.Options.AutoRenew && now >= Volatile.Read(ref _renewAt))
        {
            Volatile.Write(ref _renewing, RenewInBackgroundAsync(confirming: false));
        }
    }

    private async Task RenewInBackgroundAsync(bool confirming)
    {
        var time = _owner.Options.TimeProvider;
        try
        {
            await RenewAsync();
            Volatile.Write(ref _retryTicks, _intervalTicks);
            Volatile.Write(ref _renewAt, time.GetTimestamp() + _intervalTicks);
        }
        catch (Exception ex) when (ex is LeaseExpiredException or LeaseNotHeldException)
        {
            // RenewAsync marked the lease lost.
        }
        catch (Exception ex) when (DistributedLocks.IsTransient(ex) || ex is Granary.Errors.GranaryException)
        {
            if (confirming)
            {
                // The grant could not be confirmed: its lease may have started long ago.
                MarkLost();
                return;
            }

            // Try again sooner while the local expiry has not passed (the timer checks that).
            var retry = Math.Max(ToTicks(TimeSpan.FromMilliseconds(50), time), Volatile.Read(ref _retryTicks) / 2);
            Volatile.Write(ref _retryTicks, retry);
            Volatile.Write(ref _renewAt, time.GetTimestamp() + retry);
        }
    }

    private static long ToTicks(TimeSpan span, TimeProvider time) => (long)(span.TotalSeconds * time.TimestampFrequency);

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
