using Granary.Locks;

namespace Granary.Sdk.Locks;

/// <summary>
/// A held lease. Renews itself in the background at a third of its ttl; <see cref="LeaseLost"/>
/// fires when the lease can no longer be trusted (the server refused a renewal, or renewals failed
/// until the ttl counted from the moment the request was sent ran out). Disposing releases it.
/// </summary>
/// <example><code>
/// await using var lease = await locks.AcquireAsync("orders/42", TimeSpan.FromSeconds(30), TimeSpan.FromSeconds(10));
/// await DoWorkAsync(lease.Token, lease.LeaseLost);
/// </code></example>
public sealed class LockHandle : IAsyncDisposable
{
    private readonly ILockGrain _grain;
    private readonly DistributedLocks _owner;
    private readonly CancellationTokenSource _lost = new();
    private readonly CancellationTokenSource _stop = new();
    private readonly Task _renewal;
    private long _localExpiry;
    private int _disposed;
    private bool _confirmFirst;

    internal LockHandle(ILockGrain grain, LockLease lease, long sentAt, DistributedLocks owner)
    {
        _grain = grain;
        _owner = owner;
        Lease = lease;
        // Count the ttl from when the request was sent: the server's clock may run ahead of ours.
        _localExpiry = sentAt + (long)(lease.Ttl.TotalSeconds * owner.Options.TimeProvider.TimestampFrequency);
        // A grant that came after a long wait may have been made long after the request was sent:
        // the bound above is then too early, so renew at once to get a fresh one.
        _confirmFirst = owner.Options.TimeProvider.GetElapsedTime(sentAt) > lease.Ttl / 4;
        LeaseLost = _lost.Token;
        _renewal = RenewLoopAsync();
    }

    /// <summary>The lease as last granted or renewed.</summary>
    public LockLease Lease { get; private set; }

    /// <summary>The lock name.</summary>
    public string Name => Lease.Name;

    /// <summary>The fencing token: pass it to every resource the lock protects.</summary>
    public long Token => Lease.Token;

    /// <summary>Fires when the lease is lost (or released).</summary>
    public CancellationToken LeaseLost { get; }

    /// <summary>True once <see cref="LeaseLost"/> has fired.</summary>
    public bool IsLost => _lost.IsCancellationRequested;

    /// <summary>Renews now (the background loop does this on its own).</summary>
    public async Task<LockLease> RenewAsync()
    {
        var time = _owner.Options.TimeProvider;
        var sentAt = time.GetTimestamp();
        try
        {
            var renewed = await _grain.RenewAsync(Lease.Owner, Lease.Token, Lease.Ttl).WaitAsync(_owner.Options.CallTimeout, time);
            Lease = renewed;
            Volatile.Write(ref _localExpiry, sentAt + (long)(renewed.Ttl.TotalSeconds * time.TimestampFrequency));
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

        await _stop.CancelAsync();
        await _renewal;
        // Retry through transient failures (silo loss) while the lease can still be ours: a release
        // that never arrives leaves the lock held until its expiry.
        var time = _owner.Options.TimeProvider;
        var attempt = 0;
        while (!IsLost && time.GetTimestamp() < Volatile.Read(ref _localExpiry))
        {
            try
            {
                await _grain.ReleaseAsync(Lease.Owner, Lease.Token).WaitAsync(_owner.Options.CallTimeout, time);
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
        _stop.Dispose();
    }

    private async Task RenewLoopAsync()
    {
        var time = _owner.Options.TimeProvider;
        var interval = Lease.Ttl / 3;
        try
        {
            while (_confirmFirst && !_stop.IsCancellationRequested)
            {
                try
                {
                    await RenewAsync();
                    _confirmFirst = false;
                }
                catch (Exception ex) when (ex is LeaseExpiredException or LeaseNotHeldException)
                {
                    return;
                }
                catch (Exception ex) when (DistributedLocks.IsTransient(ex) || ex is Granary.Errors.GranaryException)
                {
                    MarkLost();
                    return;
                }
            }

            while (!_stop.IsCancellationRequested)
            {
                var untilExpiry = TimeSpan.FromSeconds((double)(Volatile.Read(ref _localExpiry) - time.GetTimestamp()) / time.TimestampFrequency);
                if (untilExpiry <= TimeSpan.Zero)
                {
                    MarkLost();
                    return;
                }

                var delay = _owner.Options.AutoRenew && interval < untilExpiry ? interval : untilExpiry;

                // Disposal cancels this wait: end quietly instead of throwing (most leases are
                // released long before their first renewal, and an exception per lease is costly).
                await Task.Delay(delay, time, _stop.Token).ConfigureAwait(ConfigureAwaitOptions.SuppressThrowing | ConfigureAwaitOptions.ContinueOnCapturedContext);
                if (_stop.IsCancellationRequested)
                {
                    return;
                }

                if (!_owner.Options.AutoRenew)
                {
                    continue;
                }

                try
                {
                    await RenewAsync();
                }
                catch (Exception ex) when (ex is LeaseExpiredException or LeaseNotHeldException)
                {
                    return;
                }
                catch (Exception ex) when (DistributedLocks.IsTransient(ex) || ex is Granary.Errors.GranaryException)
                {
                    // Try again at the next interval while the local expiry has not passed.
                    interval = TimeSpan.FromMilliseconds(Math.Max(50, interval.TotalMilliseconds / 2));
                }
            }
        }
        catch (OperationCanceledException) when (_stop.IsCancellationRequested)
        {
            // Disposed.
        }
    }

    private void MarkLost()
    {
        try
        {
            _lost.Cancel();
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
