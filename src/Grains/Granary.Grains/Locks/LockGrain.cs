using Granary.Durability;
using Granary.Errors;
using Microsoft.Extensions.Logging;
using Microsoft.Extensions.Options;
using Orleans.Concurrency;
using Orleans.Storage;

namespace Granary.Locks;

/// <summary>
/// Implements <see cref="ILockGrain"/> over a <see cref="LeaseTable"/>. Reentrant so that releases,
/// renewals and timer ticks run while acquires wait for their turn; the table itself is only
/// touched between awaits, so it never sees two callers at once.
/// </summary>
/// <remarks>
/// Durable mode: every change that grants, renews or hands off is written (ETag-checked) before any
/// caller learns of it; writes are serialised and coalesced (one write covers every change made
/// while the previous one was in flight). Releases with no hand-off are written lazily with the
/// next write: after a crash the released lease is then believed held until its expiry, which
/// delays the next grant but never lets two holders overlap. A failed write (another activation
/// wrote first, or the database is unreachable) deactivates this activation and fails the request,
/// so a fresh activation reloads what is durable.
/// </remarks>
[Reentrant]
[GrainType("granary.locks.lock")]
[KeyIsName("name")]
public sealed class LockGrain(
    [PersistentState("lock-lease", GranaryStorage.Default)] IPersistentState<LockState> state,
    TimeProvider time,
    IOptions<LockOptions> options,
    LockMetrics metrics,
    ILogger<LockGrain> logger) : Grain, ILockGrain
{
    private readonly LockOptions _options = options.Value;
    private readonly Dictionary<string, TaskCompletionSource<LockLease?>> _pending = new(StringComparer.Ordinal);
    private readonly SemaphoreSlim _writeGate = new(1, 1);
    private LeaseTable _table = null!;
    private IGrainTimer? _timer;
    private IGrainTimer? _leaseTimer;
    private DateTimeOffset? _armedFor;
    private GroupCommit? _writes;
    private bool _broken;
    private string _name = string.Empty;
    private InvalidRequestException? _badName;

    private bool Durable => _options.Durability == LockDurability.Durable;

    // Durable mode's table writes: one at a time, each covering every change made before it started.
    // A failed write breaks the activation (sticky): nothing more is promised until it reloads.
    private GroupCommit Writes => _writes ??= new GroupCommit(WriteTableAsync, GroupCommitFailureMode.Sticky);

    /// <inheritdoc/>
    public override async Task OnActivateAsync(CancellationToken cancellationToken)
    {
        _name = this.GetPrimaryKeyString();
        try
        {
            Guard.Name(_name, "name");
        }
        catch (InvalidRequestException ex)
        {
            _badName = ex;
            _table = new LeaseTable(time);
            return;
        }

        var limits = new LeaseTableLimits { MaxTtl = _options.MaxTtl, MaxWait = _options.MaxWait, MaxWaiters = _options.MaxWaiters, MaxPermits = Limits.Locks.MaxPermits, MaxOwnerLength = Limits.MaxKeyLength };
        var s = state.State;
        var kind = (LockKind)s.Type;
        DateTimeOffset? blockedUntil = null;
        DateTimeOffset? grantsUntil = null;
        long lastToken;
        IEnumerable<Lease> holders = [];
        if (Durable)
        {
            // A lock last served in fast mode (the cluster switched modes) handed out tokens
            // (Epoch << 32) + n without recording them or their holders: start above that whole
            // epoch, and if that activation did not end cleanly, grant nothing for the lock-delay,
            // as a fast activation would. A durable grant since then (a last token above the next
            // epoch's base) shows the delay was already served.
            var fastEpochBase = s.Epoch == 0 ? 0 : (s.Epoch + 1) << 32;
            lastToken = Math.Max(s.LastToken, fastEpochBase);
            if (s.Epoch > 0 && !s.CleanShutdown && s.LastToken <= fastEpochBase)
            {
                blockedUntil = time.GetUtcNow() + _options.EffectiveLockDelay;
            }

            holders = s.Holders.Select(h => new Lease(h.Owner, h.RequestId, h.Token, (LeaseMode)h.Access, h.GrantedAt, h.ExpiresAt, h.Ttl)).ToList();
        }
        else
        {
            // Holders recorded by durable mode (the cluster switched modes) may still hold their
            // leases: wait them out like an unclean restart. Fast mode records none.
            var unclean = state.RecordExists && (!s.CleanShutdown || s.Holders.Count > 0);
            s.Epoch = Math.Max(s.Epoch + 1, (s.LastToken >> 32) + 1);
            s.CleanShutdown = false;
            s.Holders = [];
            lastToken = s.Epoch << 32;
            if (unclean)
            {
                blockedUntil = time.GetUtcNow() + _options.EffectiveLockDelay;
            }

            // One write per activation: a second activation that read the same epoch loses here.
            var sent = time.GetUtcNow();
            await state.WriteStateAsync(cancellationToken);
            grantsUntil = sent + _options.ActivationLease;
        }

        _table = new LeaseTable(time, limits, lastToken, kind, Math.Max(1, s.Permits), holders, blockedUntil);
        if (grantsUntil is { } until)
        {
            _table.AllowGrantsUntil(until);
            var period = _options.ActivationLease / 3;
            _leaseTimer = this.RegisterGrainTimer(RenewActivationLeaseAsync, new GrainTimerCreationOptions(period, period) { Interleave = true, KeepAlive = false });
        }

        _timer = this.RegisterGrainTimer(OnDeadlineAsync, new GrainTimerCreationOptions(Timeout.InfiniteTimeSpan, Timeout.InfiniteTimeSpan) { Interleave = true, KeepAlive = true });
        LockLog.Activated(logger, _name, _options.Durability.ToString(), lastToken, s.Holders.Count, blockedUntil);
        var table = _table;
        metrics.Track(this, () => (table.HolderCount, table.WaiterCount));
        Reschedule();
    }

    /// <inheritdoc/>
    public override async Task OnDeactivateAsync(DeactivationReason reason, CancellationToken cancellationToken)
    {
        metrics.Untrack(this);
        foreach (var pending in _pending.Values)
        {
            pending.TrySetException(new LockUnavailableException(_name, "the lock's activation is shutting down; retry"));
        }

        _pending.Clear();
        if (_badName is not null || _broken)
        {
            return;
        }

        try
        {
            if (!Durable && _table.Holders.Count == 0)
            {
                await _writeGate.WaitAsync(cancellationToken);
                try
                {
                    state.State.CleanShutdown = true;
                    await state.WriteStateAsync(cancellationToken);
                }
                finally
                {
                    _writeGate.Release();
                }
            }
            else if (Durable && !Writes.IsDurable && reason.ReasonCode != DeactivationReasonCode.ShuttingDown)
            {
                await PersistAsync();
            }
        }
        catch (Exception ex) when (ex is not OutOfMemoryException)
        {
            // Best effort: what is durable stays safe without it.
            LockLog.WriteFailed(logger, _name, ex.Message);
        }
    }

    /// <inheritdoc/>
    public async Task<AcquireResult> AcquireAsync(AcquireRequest request)
    {
        Check();
        if (request is null)
        {
            throw new InvalidRequestException(nameof(request), "must not be null");
        }

        if (request.Wait < TimeSpan.Zero || request.Wait > _options.MaxWait)
        {
            throw new InvalidRequestException("wait", $"is {request.Wait}; it must be between 0 and {_options.MaxWait}");
        }

        // A queued request stays queued a little beyond this call so that the client's re-issue
        // (same request id) finds its place; a client that went away drops out soon after.
        var maxCallWait = request.CallWait > TimeSpan.Zero && request.CallWait < _options.MaxCallWait ? request.CallWait : _options.MaxCallWait;
        var callWait = request.Wait < maxCallWait ? request.Wait : maxCallWait;
        var queueWait = request.Wait <= maxCallWait ? request.Wait : maxCallWait + _options.MaxCallWait;
        await EnsureActivationLeaseAsync();
        Check();
        var tokenBefore = _table.LastToken;
        var outcome = Run(() => _table.Acquire(
            request.Owner,
            request.RequestId,
            (LeaseMode)request.Access,
            request.Ttl,
            queueWait,
            (LockKind)request.Type,
            request.Permits));
        TaskCompletionSource<LockLease?>? waiter = null;
        if (outcome.Status == AcquireStatus.Queued && !_pending.TryGetValue(request.RequestId, out waiter))
        {
            waiter = new TaskCompletionSource<LockLease?>(TaskCreationOptions.RunContinuationsAsynchronously);
            _pending[request.RequestId] = waiter;
        }

        if (outcome.Status == AcquireStatus.Granted && outcome.Lease!.Token > tokenBefore)
        {
            metrics.Grants.Add(1, new KeyValuePair<string, object?>("handoff", false));
        }

        await CommitAsync(outcome.Changes, changed: outcome.Status == AcquireStatus.Granted);
        switch (outcome.Status)
        {
            case AcquireStatus.Granted:
                await PersistAsync();
                return Answer(ToWire(outcome.Lease!));
            case AcquireStatus.Unavailable:
                return new AcquireResult(null, false, 0);
        }

        try
        {
            var lease = await waiter!.Task.WaitAsync(callWait, time);
            return Answer(lease);
        }
        catch (TimeoutException)
        {
            var stillQueued = _table.Waiters.Select((w, i) => (w, i)).FirstOrDefault(x => string.Equals(x.w.RequestId, request.RequestId, StringComparison.Ordinal));
            if (stillQueued.w is not null && request.Wait > callWait)
            {
                return new AcquireResult(null, true, stillQueued.i + 1);
            }

            // Granted meanwhile (answer it) or its own wait ran out.
            var held = _table.Holders.FirstOrDefault(l => string.Equals(l.RequestId, request.RequestId, StringComparison.Ordinal));
            if (held is not null)
            {
                await PersistAsync();
                return Answer(ToWire(held));
            }

            return new AcquireResult(null, stillQueued.w is not null, stillQueued.w is null ? 0 : stillQueued.i + 1);
        }
    }

    /// <inheritdoc/>
    public async Task<LockLease> RenewAsync(string owner, long token, TimeSpan ttl)
    {
        Check();
        if (!_table.GrantWindowOpenAt(time.GetUtcNow()) && !Durable)
        {
            throw new LockUnavailableException(_name, "the lock's activation lease has run out (it is being replaced, or its storage is unreachable); retry");
        }

        var renewed = Run(() => _table.Renew(owner, token, ttl));
        Writes.Changed();
        Reschedule();
        await PersistAsync();
        return ToWire(renewed);
    }

    /// <inheritdoc/>
    public async Task ReleaseAsync(string owner, long token)
    {
        Check();
        var changes = Run(() => _table.Release(owner, token));
        metrics.Releases.Add(1);
        Writes.Changed();
        if (changes.Granted.Count == 0)
        {
            // Written lazily: a stale holder in storage only delays the next grant after a crash.
            metrics.Record(changes);
            CompleteWaiters(changes);
            Reschedule();
            return;
        }

        await CommitAsync(changes, changed: true);
    }

    /// <inheritdoc/>
    public async Task AbandonAsync(string owner, string requestId)
    {
        Check();
        var changes = Run(() => _table.Abandon(owner, requestId));
        if (_pending.Remove(requestId, out var pending))
        {
            pending.TrySetResult(null);
        }

        Writes.Changed();
        await CommitAsync(changes, changed: false);
    }

    /// <inheritdoc/>
    public async Task<LockStatus> GetStatusAsync()
    {
        Check();
        await CommitAsync(_table.Advance(), changed: false);
        var snapshot = _table.Snapshot();
        return new LockStatus(
            _name,
            (LockType)snapshot.Kind,
            snapshot.Permits,
            snapshot.LastToken,
            snapshot.Holders.Select(ToWire).ToList(),
            snapshot.Waiters.Select(w => new LockWaiterInfo(w.Owner, w.RequestId, (LockAccess)w.Mode, w.EnqueuedAt)).ToList(),
            _options.Durability.ToString(),
            _table.GrantsBlockedUntil is { } b && b > time.GetUtcNow() ? b : null,
            RuntimeIdentity);
    }

    /// <summary>
    /// Fast mode, every third of the activation lease: renews this activation's right to grant while
    /// the lock has holders or waiters. An idle lock lets its lease lapse (no writes); its next
    /// acquire renews it first (<see cref="EnsureActivationLeaseAsync"/>).
    /// </summary>
    private Task RenewActivationLeaseAsync(CancellationToken cancellationToken) =>
        _table.HolderCount == 0 && _table.WaiterCount == 0 ? Task.CompletedTask : RenewActivationLeaseCoreAsync(force: true);

    /// <summary>Fast mode: makes sure the activation lease runs before a grant (one write when it lapsed).</summary>
    private Task EnsureActivationLeaseAsync() =>
        Durable || _table.GrantWindowOpenAt(time.GetUtcNow()) ? Task.CompletedTask : RenewActivationLeaseCoreAsync(force: false);

    /// <summary>
    /// Renews the activation lease with an ETag-checked write. If another activation wrote since (it
    /// bumped the epoch), the write fails: this activation stops granting at once, fails its waiters
    /// and deactivates. If storage is unreachable, grants stop when the lease runs out and resume
    /// after a renewal succeeds. Renewals are serialised (two concurrent writes of one activation
    /// would conflict with each other).
    /// </summary>
    private async Task RenewActivationLeaseCoreAsync(bool force)
    {
        await _writeGate.WaitAsync();
        try
        {
            if (_broken || (!force && _table.GrantWindowOpenAt(time.GetUtcNow())))
            {
                return;
            }

            var sent = time.GetUtcNow();
            try
            {
                await state.WriteStateAsync();
            }
            catch (Exception ex) when (ex is InconsistentStateException)
            {
                _broken = true;
                _leaseTimer?.Dispose();
                metrics.WriteFailures.Add(1);
                LockLog.WriteFailed(logger, _name, "activation lease lost to a newer activation: " + ex.Message);
                foreach (var pending in _pending.Values)
                {
                    pending.TrySetException(new LockUnavailableException(_name, "the lock moved to a newer activation; retry"));
                }

                _pending.Clear();
                this.DeactivateOnIdle();
                return;
            }
            catch (Exception ex) when (ex is not OutOfMemoryException)
            {
                metrics.WriteFailures.Add(1);
                LockLog.WriteFailed(logger, _name, "activation lease renewal failed: " + ex.Message);
                return;
            }

            _table.AllowGrantsUntil(sent + _options.ActivationLease);
        }
        finally
        {
            _writeGate.Release();
        }

        await OnTimerAsync(CancellationToken.None);
    }

    private Task OnDeadlineAsync(CancellationToken cancellationToken)
    {
        _armedFor = null;
        return OnTimerAsync(cancellationToken);
    }

    private async Task OnTimerAsync(CancellationToken cancellationToken)
    {
        if (_broken)
        {
            return;
        }

        try
        {
            await CommitAsync(_table.Advance(), changed: false);
        }
        catch (LockUnavailableException)
        {
            // Already deactivating; waiters were failed and will retry elsewhere.
        }
    }

    /// <summary>Makes <paramref name="changes"/> durable (when they grant), then completes the waiting callers.</summary>
    private async Task CommitAsync(LeaseChanges changes, bool changed)
    {
        metrics.Record(changes);
        if (changed || !changes.IsEmpty)
        {
            Writes.Changed();
        }

        Reschedule();
        if (changes.Granted.Count > 0)
        {
            await PersistAsync();
        }

        CompleteWaiters(changes);
    }

    private void CompleteWaiters(LeaseChanges changes)
    {
        foreach (var lease in changes.Granted)
        {
            if (_pending.Remove(lease.RequestId, out var waiter))
            {
                waiter.TrySetResult(ToWire(lease));
            }
        }

        foreach (var timedOut in changes.TimedOut)
        {
            if (_pending.Remove(timedOut.RequestId, out var waiter))
            {
                waiter.TrySetResult(null);
            }
        }
    }

    /// <summary>Completes once every change made so far is durable (group commit; at once in fast mode).</summary>
    private Task PersistAsync()
    {
        ThrowIfBroken();
        return Durable ? Writes.DurableAsync() : Task.CompletedTask;
    }

    /// <summary>One group-commit write: the table as it is now, ETag-checked.</summary>
    private async Task WriteTableAsync()
    {
        var s = state.State;
        s.LastToken = _table.LastToken;
        s.Type = (LockType)_table.Kind;
        s.Permits = _table.Permits;
        s.Holders = _table.Holders.Select(l => new LeaseRecord
        {
            Owner = l.Owner,
            RequestId = l.RequestId,
            Token = l.Token,
            Access = (LockAccess)l.Mode,
            GrantedAt = l.GrantedAt,
            ExpiresAt = l.ExpiresAt,
            Ttl = l.Ttl,
        }).ToList();
        try
        {
            await state.WriteStateAsync();
        }
        catch (Exception ex)
        {
            // The in-memory table is now ahead of storage (and maybe of another activation):
            // nothing it holds may be promised. Start over from what is durable. Any exception
            // (an out-of-memory too): one that escaped would leave the waiters it granted
            // waiting and the table's grants unwritten but promised by the next write.
            // The write may also have been applied (a commit whose answer was lost): a retry
            // with the same request id then finds its lease in the reloaded table.
            _broken = true;
            metrics.WriteFailures.Add(1);
            LockLog.WriteFailed(logger, _name, ex.GetType().Name + ": " + ex.Message);
            foreach (var pending in _pending.Values)
            {
                pending.TrySetException(new LockUnavailableException(_name, "the lock's activation lost its storage write; retry"));
            }

            _pending.Clear();
            this.DeactivateOnIdle();
            throw new LockUnavailableException(_name, $"state write failed ({ex.GetType().Name}); the request may or may not have been applied, retry with the same request id");
        }
    }

    /// <summary>
    /// Arms the deadline timer for the table's next deadline. A timer already armed no later than
    /// that is left alone: firing early is harmless (the tick applies nothing and re-arms), and
    /// leaving it saves a timer update on nearly every call (a grant's expiry is always later than
    /// the one armed by the previous grant). A timer left armed on an idle lock fires once for nothing.
    /// </summary>
    private void Reschedule()
    {
        if (_timer is null)
        {
            return;
        }

        if (_table.NextDeadline is { } next)
        {
            if (_armedFor is { } armed && armed <= next)
            {
                return;
            }

            var due = next - time.GetUtcNow();
            _timer.Change(due < TimeSpan.Zero ? TimeSpan.Zero : due + TimeSpan.FromMilliseconds(1), Timeout.InfiniteTimeSpan);
            _armedFor = next;
        }

        // No deadline: a timer still armed fires once for nothing (the tick re-arms nothing).
    }

    private void Check()
    {
        if (_badName is not null)
        {
            throw _badName;
        }

        ThrowIfBroken();
    }

    private void ThrowIfBroken()
    {
        if (_broken)
        {
            throw new LockUnavailableException(_name, "the lock's activation is being replaced after a failed storage write; retry");
        }
    }

    private T Run<T>(Func<T> operation)
    {
        try
        {
            return operation();
        }
        catch (LockRequestException ex)
        {
            throw ex.Error switch
            {
                LockError.NotHolder => new LeaseNotHeldException(_name, ex.Message),
                LockError.LeaseExpired => new LeaseExpiredException(_name, ex.Message),
                LockError.KindMismatch => new LockKindMismatchException(_name, ex.Message),
                LockError.QueueFull => new LockQueueFullException(_name, ex.Message),
                _ => (GranaryException)new InvalidRequestException(ex.Parameter, ex.Message),
            };
        }
    }

    /// <summary>A final answer, with how long the lease has left now (by this silo's clock).</summary>
    private AcquireResult Answer(LockLease? lease) =>
        new(lease, false, 0, lease is null ? TimeSpan.Zero : lease.ExpiresAt - time.GetUtcNow());

    private LockLease ToWire(Lease lease) =>
        new(_name, lease.Owner, lease.Token, lease.GrantedAt, lease.ExpiresAt, lease.Ttl, (LockAccess)lease.Mode, lease.RequestId, lease.Arrival);
}
