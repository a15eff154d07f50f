using System.Globalization;

namespace Granary.Locks;

/// <summary>
/// The lease state machine of one named lock, free of any runtime: holders, a FIFO waiter queue,
/// fencing tokens and ttl expiry read from an injected <see cref="TimeProvider"/>. The host (a
/// grain) calls it from one logical thread, persists what it must, and completes waiting callers
/// from the returned <see cref="LeaseChanges"/>.
/// </summary>
/// <remarks>
/// <para>Fairness: waiters are granted strictly in arrival order. A request is granted at once
/// only when nobody is queued, so a reader arriving behind a queued writer waits behind it: writers
/// are never starved by a stream of readers.</para>
/// <para>Tokens: every grant takes <c>LastToken + 1</c>. A host that persists <see cref="LastToken"/>
/// before returning a grant (or starts each activation at a higher base) keeps tokens strictly
/// increasing forever.</para>
/// <para>Every refused request raises <see cref="LockRequestException"/> before anything is changed.</para>
/// </remarks>
/// <example><code>
/// var table = new LeaseTable(TimeProvider.System);
/// var outcome = table.Acquire("worker-1", "req-1", LeaseMode.Exclusive, TimeSpan.FromSeconds(10), TimeSpan.Zero);
/// table.Release("worker-1", outcome.Lease!.Token);
/// </code></example>
public sealed class LeaseTable
{
    private readonly TimeProvider _time;
    private readonly Dictionary<long, Lease> _holders = [];
    private readonly Dictionary<string, Lease> _holdersByRequest = new(StringComparer.Ordinal);
    private readonly LinkedList<LockWaiter> _waiters = new();
    private readonly Dictionary<string, LinkedListNode<LockWaiter>> _waitersByRequest = new(StringComparer.Ordinal);
    private readonly Dictionary<string, EndedLease> _endedByRequest = new(StringComparer.Ordinal);
    private readonly Dictionary<long, EndedLease> _endedByToken = [];
    private readonly Queue<EndedLease> _endedOrder = new();
    private readonly Dictionary<string, string> _abandonedByRequest = new(StringComparer.Ordinal);
    private readonly Queue<string> _abandonedOrder = new();
    private long _arrivals;

    /// <summary>Creates an empty lock, or restores one from persisted holders and last token.</summary>
    public LeaseTable(
        TimeProvider time,
        LeaseTableLimits? limits = null,
        long lastToken = 0,
        LockKind kind = LockKind.Mutex,
        int permits = 1,
        IEnumerable<Lease>? holders = null,
        DateTimeOffset? grantsBlockedUntil = null)
    {
        ArgumentNullException.ThrowIfNull(time);
        ArgumentOutOfRangeException.ThrowIfNegative(lastToken);
        ArgumentOutOfRangeException.ThrowIfLessThan(permits, 1);
        _time = time;
        Limits = limits ?? new LeaseTableLimits();
        LastToken = lastToken;
        Kind = kind;
        Permits = kind == LockKind.Semaphore ? permits : 1;
        GrantsBlockedUntil = grantsBlockedUntil;
        foreach (var lease in holders ?? [])
        {
            if (lease.Token > lastToken)
            {
                throw new ArgumentException($"holder token {lease.Token} is above the last token {lastToken}", nameof(holders));
            }

            _holders[lease.Token] = lease;
            _holdersByRequest[lease.RequestId] = lease;
        }
    }

    /// <summary>The limits enforced.</summary>
    public LeaseTableLimits Limits { get; }

    /// <summary>The highest fencing token granted so far.</summary>
    public long LastToken { get; private set; }

    /// <summary>The kind of lock (set by the first request while the lock is idle).</summary>
    public LockKind Kind { get; private set; }

    /// <summary>Permits of a semaphore (1 otherwise).</summary>
    public int Permits { get; private set; }

    /// <summary>No grant happens before this instant (the lock-delay after an unclean restart), if set.</summary>
    public DateTimeOffset? GrantsBlockedUntil { get; }

    /// <summary>
    /// No grant happens at or after this instant, if set: the end of the host's own right to grant
    /// (fast mode's activation lease). <see cref="AllowGrantsUntil"/> moves it forward; waiters wait
    /// meanwhile and are granted by the next <see cref="Advance"/> after it moved.
    /// </summary>
    public DateTimeOffset? GrantsAllowedUntil { get; private set; }

    /// <summary>Sets or extends <see cref="GrantsAllowedUntil"/> (never moves it back).</summary>
    public void AllowGrantsUntil(DateTimeOffset until)
    {
        if (GrantsAllowedUntil is null || until > GrantsAllowedUntil)
        {
            GrantsAllowedUntil = until;
        }
    }

    /// <summary>True when grants are allowed at <paramref name="now"/> (no lock-delay, grant window open).</summary>
    public bool MayGrantAt(DateTimeOffset now) => !Blocked(now);

    /// <summary>True when <see cref="GrantsAllowedUntil"/> is unset or still ahead of <paramref name="now"/>.</summary>
    public bool GrantWindowOpenAt(DateTimeOffset now) => GrantsAllowedUntil is not { } allowed || now < allowed;

    /// <summary>Current holders, oldest grant first.</summary>
    public IReadOnlyList<Lease> Holders => _holders.Values.OrderBy(l => l.Token).ToList();

    /// <summary>Queued waiters in grant order.</summary>
    public IReadOnlyList<LockWaiter> Waiters => _waiters.ToList();

    /// <summary>How many leases are held (cheap; safe to read for metrics from another thread).</summary>
    public int HolderCount => _holders.Count;

    /// <summary>How many callers wait (cheap; safe to read for metrics from another thread).</summary>
    public int WaiterCount => _waiters.Count;

    /// <summary>
    /// The next instant at which time alone changes the state (a lease expires, a wait runs out, the
    /// lock-delay ends), or null. The host arms a timer for it and then calls <see cref="Advance"/>.
    /// </summary>
    public DateTimeOffset? NextDeadline
    {
        get
        {
            DateTimeOffset? next = null;
            foreach (var lease in _holders.Values)
            {
                next = Min(next, lease.ExpiresAt);
            }

            foreach (var waiter in _waiters)
            {
                next = Min(next, waiter.WaitUntil);
            }

            if (_waiters.Count > 0 && GrantsBlockedUntil is { } blocked && blocked > _time.GetUtcNow())
            {
                next = Min(next, blocked);
            }

            return next;
        }
    }

    /// <summary>
    /// Asks for a lease. Granted at once when nobody is queued and the lock is free for
    /// <paramref name="mode"/>; otherwise queued for up to <paramref name="wait"/> (or
    /// <see cref="AcquireStatus.Unavailable"/> when <paramref name="wait"/> is zero).
    /// Retrying with the same <paramref name="requestId"/> returns the same lease, or keeps the
    /// same place in the queue (its wait is reset to <paramref name="wait"/> from now).
    /// </summary>
    public AcquireOutcome Acquire(
        string owner,
        string requestId,
        LeaseMode mode,
        TimeSpan ttl,
        TimeSpan wait,
        LockKind kind = LockKind.Mutex,
        int permits = 1)
    {
        CheckName(owner, nameof(owner));
        CheckName(requestId, nameof(requestId));
        CheckTtl(ttl);
        if (wait < TimeSpan.Zero || wait > Limits.MaxWait)
        {
            throw Invalid(nameof(wait), $"is {wait}; it must be between 0 and {Limits.MaxWait}");
        }

        if (!Enum.IsDefined(kind))
        {
            throw Invalid(nameof(kind), $"{kind} is not a lock kind");
        }

        if (!Enum.IsDefined(mode) || (mode == LeaseMode.Shared && kind != LockKind.ReaderWriter))
        {
            throw Invalid(nameof(mode), $"{mode} is not valid for a {kind}");
        }

        if (kind == LockKind.Semaphore && (permits < 1 || permits > Limits.MaxPermits))
        {
            throw Invalid(nameof(permits), $"is {permits}; it must be between 1 and {Limits.MaxPermits}");
        }

        if (kind != LockKind.Semaphore && permits != 1)
        {
            throw Invalid(nameof(permits), string.Create(CultureInfo.InvariantCulture, $"is {permits}; only a semaphore takes permits, a {kind} has one holder (or many readers)"));
        }

        var now = _time.GetUtcNow();
        var changes = AdvanceCore(now);

        if (_holdersByRequest.TryGetValue(requestId, out var held))
        {
            RequireSameOwner(held.Owner, owner, requestId);
            return new AcquireOutcome(AcquireStatus.Granted, held, 0, changes);
        }

        if (_endedByRequest.TryGetValue(requestId, out var ended))
        {
            RequireSameOwner(ended.Lease.Owner, owner, requestId);
            throw new LockRequestException(
                LockError.LeaseExpired,
                nameof(requestId),
                string.Create(CultureInfo.InvariantCulture, $"request '{requestId}' was granted token {ended.Lease.Token}, which has since {(ended.Released ? "been released" : "expired")}"));
        }

        if (_abandonedByRequest.TryGetValue(requestId, out var abandonedBy) && string.Equals(abandonedBy, owner, StringComparison.Ordinal))
        {
            // Its caller gave it up before this attempt arrived (messages of one client may
            // overtake each other): queueing or granting it now would leave a lease nobody releases.
            return new AcquireOutcome(AcquireStatus.Unavailable, null, 0, changes);
        }

        if (_waitersByRequest.TryGetValue(requestId, out var node))
        {
            RequireSameOwner(node.Value.Owner, owner, requestId);
            if (wait == TimeSpan.Zero)
            {
                RemoveWaiter(node);
                return new AcquireOutcome(AcquireStatus.Unavailable, null, 0, changes);
            }

            node.Value = node.Value with { WaitUntil = now + wait };
            return new AcquireOutcome(AcquireStatus.Queued, null, PositionOf(node), changes);
        }

        var idle = _holders.Count == 0 && _waiters.Count == 0;
        if (!idle && (kind != Kind || (kind == LockKind.Semaphore && permits != Permits)))
        {
            throw new LockRequestException(
                LockError.KindMismatch,
                nameof(kind),
                string.Create(CultureInfo.InvariantCulture, $"the lock is in use as a {Describe(Kind, Permits)}, not a {Describe(kind, permits)}"));
        }

        if (_waiters.Count == 0 && !Blocked(now) && CanGrant(mode, idle ? kind : Kind, idle ? permits : Permits))
        {
            AdoptKind(kind, permits);
            var lease = Grant(owner, requestId, mode, ttl, now, ++_arrivals);
            return new AcquireOutcome(AcquireStatus.Granted, lease, 0, changes);
        }

        if (wait == TimeSpan.Zero)
        {
            return new AcquireOutcome(AcquireStatus.Unavailable, null, 0, changes);
        }

        if (_waiters.Count >= Limits.MaxWaiters)
        {
            throw new LockRequestException(LockError.QueueFull, nameof(wait), string.Create(CultureInfo.InvariantCulture, $"{_waiters.Count} requests are already waiting; the limit is {Limits.MaxWaiters}"));
        }

        AdoptKind(kind, permits);
        var added = _waiters.AddLast(new LockWaiter(owner, requestId, mode, ttl, now, now + wait, ++_arrivals));
        _waitersByRequest[requestId] = added;
        return new AcquireOutcome(AcquireStatus.Queued, null, _waiters.Count, changes);
    }

    /// <summary>Extends the holder's lease to <paramref name="ttl"/> from now. Only the holder, only before expiry.</summary>
    public Lease Renew(string owner, long token, TimeSpan ttl)
    {
        CheckName(owner, nameof(owner));
        CheckToken(token);
        CheckTtl(ttl);
        var now = _time.GetUtcNow();
        var lease = FindHeld(owner, token, now);
        var renewed = lease with { ExpiresAt = now + ttl, Ttl = ttl };
        _holders[token] = renewed;
        _holdersByRequest[renewed.RequestId] = renewed;
        return renewed;
    }

    /// <summary>
    /// Ends the holder's lease and hands the lock to the next waiters. Releasing a lease already
    /// released by the same owner succeeds again (a retried release); anything else that is not a
    /// held lease of this owner is refused.
    /// </summary>
    public LeaseChanges Release(string owner, long token)
    {
        CheckName(owner, nameof(owner));
        CheckToken(token);
        var now = _time.GetUtcNow();
        if (_endedByToken.TryGetValue(token, out var ended) && ended.Released && string.Equals(ended.Lease.Owner, owner, StringComparison.Ordinal))
        {
            return AdvanceCore(now);
        }

        var lease = FindHeld(owner, token, now);
        var expired = AdvanceCore(now);
        End(lease, released: true);
        var granted = GrantWaiters(now);
        return new LeaseChanges([.. expired.Granted, .. granted], expired.Expired, expired.TimedOut);
    }

    /// <summary>
    /// The caller of <paramref name="requestId"/> gave up: its waiter leaves the queue, or the lease
    /// it was granted meanwhile is released. A request that is not queued or held is remembered
    /// (the latest <see cref="LeaseTableLimits.RememberedEndedLeases"/>) as given up, so that an
    /// attempt of it arriving after this call (it was overtaken on the way, or was a retry still in
    /// flight) is answered <see cref="AcquireStatus.Unavailable"/> instead of taking a lease nobody
    /// would release before its ttl.
    /// </summary>
    public LeaseChanges Abandon(string owner, string requestId)
    {
        CheckName(owner, nameof(owner));
        CheckName(requestId, nameof(requestId));
        var now = _time.GetUtcNow();
        if (_waitersByRequest.TryGetValue(requestId, out var node))
        {
            RequireSameOwner(node.Value.Owner, owner, requestId);
            RemoveWaiter(node);
            RememberAbandoned(owner, requestId);
            var after = AdvanceCore(now);
            var granted = GrantWaiters(now);
            return new LeaseChanges([.. after.Granted, .. granted], after.Expired, after.TimedOut);
        }

        if (_holdersByRequest.TryGetValue(requestId, out var lease))
        {
            RequireSameOwner(lease.Owner, owner, requestId);
            return Release(owner, lease.Token);
        }

        if (!_endedByRequest.ContainsKey(requestId))
        {
            RememberAbandoned(owner, requestId);
        }

        return AdvanceCore(now);
    }

    /// <summary>Applies the passage of time: expires leases, times out waiters, hands the lock on.</summary>
    public LeaseChanges Advance() => AdvanceCore(_time.GetUtcNow());

    /// <summary>The state now (after applying expiries).</summary>
    public LeaseTableSnapshot Snapshot() => new(Kind, Permits, LastToken, Holders, Waiters);

    private LeaseChanges AdvanceCore(DateTimeOffset now)
    {
        List<Lease>? expired = null;
        foreach (var lease in _holders.Values)
        {
            if (lease.ExpiresAt <= now)
            {
                (expired ??= []).Add(lease);
            }
        }

        foreach (var lease in expired ?? [])
        {
            End(lease, released: false);
        }

        List<LockWaiter>? timedOut = null;
        for (var node = _waiters.First; node is not null;)
        {
            var next = node.Next;
            if (node.Value.WaitUntil <= now)
            {
                (timedOut ??= []).Add(node.Value);
                RemoveWaiter(node);
            }

            node = next;
        }

        var granted = GrantWaiters(now);
        return granted.Count == 0 && expired is null && timedOut is null
            ? LeaseChanges.None
            : new LeaseChanges(granted, expired ?? [], timedOut ?? []);
    }

    private List<Lease> GrantWaiters(DateTimeOffset now)
    {
        var granted = new List<Lease>();
        if (Blocked(now))
        {
            return granted;
        }

        while (_waiters.First is { } head && CanGrant(head.Value.Mode, Kind, Permits))
        {
            RemoveWaiter(head);
            granted.Add(Grant(head.Value.Owner, head.Value.RequestId, head.Value.Mode, head.Value.Ttl, now, head.Value.Arrival));
        }

        return granted;
    }

    private bool CanGrant(LeaseMode mode, LockKind kind, int permits) => kind switch
    {
        LockKind.Mutex => _holders.Count == 0,
        LockKind.Semaphore => _holders.Count < permits,
        _ => mode == LeaseMode.Exclusive ? _holders.Count == 0 : _holders.Values.All(l => l.Mode == LeaseMode.Shared),
    };

    private Lease Grant(string owner, string requestId, LeaseMode mode, TimeSpan ttl, DateTimeOffset now, long arrival)
    {
        LastToken++;
        var lease = new Lease(owner, requestId, LastToken, mode, now, now + ttl, ttl, arrival);
        _holders[lease.Token] = lease;
        _holdersByRequest[requestId] = lease;
        return lease;
    }

    private void End(Lease lease, bool released)
    {
        _holders.Remove(lease.Token);
        _holdersByRequest.Remove(lease.RequestId);
        var ended = new EndedLease(lease, released);
        _endedByRequest[lease.RequestId] = ended;
        _endedByToken[lease.Token] = ended;
        _endedOrder.Enqueue(ended);
        while (_endedOrder.Count > Limits.RememberedEndedLeases)
        {
            var old = _endedOrder.Dequeue();
            _endedByRequest.Remove(old.Lease.RequestId);
            _endedByToken.Remove(old.Lease.Token);
        }
    }

    private void RememberAbandoned(string owner, string requestId)
    {
        if (!_abandonedByRequest.TryAdd(requestId, owner))
        {
            return;
        }

        _abandonedOrder.Enqueue(requestId);
        while (_abandonedOrder.Count > Limits.RememberedEndedLeases)
        {
            _abandonedByRequest.Remove(_abandonedOrder.Dequeue());
        }
    }

    private Lease FindHeld(string owner, long token, DateTimeOffset now)
    {
        if (_holders.TryGetValue(token, out var lease))
        {
            if (!string.Equals(lease.Owner, owner, StringComparison.Ordinal))
            {
                throw new LockRequestException(LockError.NotHolder, nameof(owner), string.Create(CultureInfo.InvariantCulture, $"token {token} is not held by '{owner}'"));
            }

            if (lease.ExpiresAt <= now)
            {
                throw new LockRequestException(LockError.LeaseExpired, nameof(token), string.Create(CultureInfo.InvariantCulture, $"the lease with token {token} expired at {lease.ExpiresAt:O}"));
            }

            return lease;
        }

        if (_endedByToken.TryGetValue(token, out var ended) && string.Equals(ended.Lease.Owner, owner, StringComparison.Ordinal))
        {
            throw ended.Released
                ? new LockRequestException(LockError.NotHolder, nameof(token), string.Create(CultureInfo.InvariantCulture, $"the lease with token {token} was released"))
                : new LockRequestException(LockError.LeaseExpired, nameof(token), string.Create(CultureInfo.InvariantCulture, $"the lease with token {token} expired at {ended.Lease.ExpiresAt:O}"));
        }

        throw new LockRequestException(LockError.NotHolder, nameof(token), string.Create(CultureInfo.InvariantCulture, $"'{owner}' holds no lease with token {token}"));
    }

    private void AdoptKind(LockKind kind, int permits)
    {
        Kind = kind;
        Permits = kind == LockKind.Semaphore ? permits : 1;
    }

    private void RemoveWaiter(LinkedListNode<LockWaiter> node)
    {
        _waiters.Remove(node);
        _waitersByRequest.Remove(node.Value.RequestId);
    }

    private bool Blocked(DateTimeOffset now) =>
        (GrantsBlockedUntil is { } blocked && now < blocked) || (GrantsAllowedUntil is { } allowed && now >= allowed);

    private int PositionOf(LinkedListNode<LockWaiter> node)
    {
        var position = 1;
        for (var n = _waiters.First; n is not null && n != node; n = n.Next)
        {
            position++;
        }

        return position;
    }

    private void CheckName(string? value, string parameter)
    {
        if (string.IsNullOrWhiteSpace(value))
        {
            throw Invalid(parameter, "must not be empty");
        }

        if (value.Length > Limits.MaxOwnerLength)
        {
            throw Invalid(parameter, string.Create(CultureInfo.InvariantCulture, $"is {value.Length} characters long; the limit is {Limits.MaxOwnerLength}"));
        }

        if (Granary.Text.StorableText.Problem(value) is { } problem)
        {
            throw Invalid(parameter, problem);
        }
    }

    private void CheckTtl(TimeSpan ttl)
    {
        if (ttl <= TimeSpan.Zero || ttl > Limits.MaxTtl)
        {
            throw Invalid("ttl", $"is {ttl}; it must be above 0 and at most {Limits.MaxTtl}");
        }
    }

    private static void CheckToken(long token)
    {
        if (token <= 0)
        {
            throw Invalid(nameof(token), string.Create(CultureInfo.InvariantCulture, $"is {token}; tokens are positive"));
        }
    }

    private static void RequireSameOwner(string actual, string owner, string requestId)
    {
        if (!string.Equals(actual, owner, StringComparison.Ordinal))
        {
            throw Invalid(nameof(requestId), $"request '{requestId}' belongs to another owner");
        }
    }

    private static LockRequestException Invalid(string parameter, string message) => new(LockError.InvalidArgument, parameter, message);

    private static string Describe(LockKind kind, int permits) =>
        kind == LockKind.Semaphore ? string.Create(CultureInfo.InvariantCulture, $"semaphore of {permits} permits") : kind.ToString().ToLowerInvariant();

    private static DateTimeOffset? Min(DateTimeOffset? a, DateTimeOffset b) => a is { } x && x <= b ? x : b;

    private sealed record EndedLease(Lease Lease, bool Released);
}
