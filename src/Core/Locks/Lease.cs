namespace Granary.Locks;

/// <summary>
/// A granted lease. <see cref="Token"/> is the fencing token: strictly greater than every token
/// granted before on the same lock, so a resource can refuse writes from an older holder.
/// </summary>
/// <remarks><see cref="Arrival"/> numbers requests in the order this table first saw them (0 for holders restored from storage): under FIFO, grants of waiters follow it.</remarks>
public sealed record Lease(string Owner, string RequestId, long Token, LeaseMode Mode, DateTimeOffset GrantedAt, DateTimeOffset ExpiresAt, TimeSpan Ttl, long Arrival = 0);

/// <summary>A request waiting in the FIFO queue.</summary>
public sealed record LockWaiter(string Owner, string RequestId, LeaseMode Mode, TimeSpan Ttl, DateTimeOffset EnqueuedAt, DateTimeOffset WaitUntil, long Arrival = 0);

/// <summary>How an acquire call ended.</summary>
public enum AcquireStatus
{
    /// <summary>Granted: <see cref="AcquireOutcome.Lease"/> is set.</summary>
    Granted = 0,

    /// <summary>Queued (or still queued, on a retry): the grant arrives in a later <see cref="LeaseChanges"/>.</summary>
    Queued = 1,

    /// <summary>Not grantable now and the caller would not wait.</summary>
    Unavailable = 2,
}

/// <summary>Result of <see cref="LeaseTable.Acquire"/>.</summary>
public sealed record AcquireOutcome(AcquireStatus Status, Lease? Lease, int QueuePosition, LeaseChanges Changes);

/// <summary>
/// What a mutation did besides its own answer: leases granted to waiters (hand-offs), leases that
/// expired, waiters whose wait ran out. The host completes waiting calls from this.
/// </summary>
public sealed record LeaseChanges(IReadOnlyList<Lease> Granted, IReadOnlyList<Lease> Expired, IReadOnlyList<LockWaiter> TimedOut)
{
    /// <summary>Nothing happened.</summary>
    public static LeaseChanges None { get; } = new([], [], []);

    /// <summary>True when nothing happened.</summary>
    public bool IsEmpty => Granted.Count == 0 && Expired.Count == 0 && TimedOut.Count == 0;
}

/// <summary>A lock's state at one moment.</summary>
public sealed record LeaseTableSnapshot(LockKind Kind, int Permits, long LastToken, IReadOnlyList<Lease> Holders, IReadOnlyList<LockWaiter> Waiters);

/// <summary>Limits a <see cref="LeaseTable"/> enforces.</summary>
public sealed record LeaseTableLimits
{
    /// <summary>Longest owner or request id: 256 characters.</summary>
    public int MaxOwnerLength { get; init; } = 256;

    /// <summary>Longest ttl a lease may ask for. Default 5 minutes.</summary>
    public TimeSpan MaxTtl { get; init; } = TimeSpan.FromMinutes(5);

    /// <summary>Longest wait a request may ask for. Default 1 hour.</summary>
    public TimeSpan MaxWait { get; init; } = TimeSpan.FromHours(1);

    /// <summary>Most waiters queued on one lock. Default 10,000.</summary>
    public int MaxWaiters { get; init; } = 10_000;

    /// <summary>Most permits of a semaphore. Default 10,000.</summary>
    public int MaxPermits { get; init; } = 10_000;

    /// <summary>
    /// How many ended leases are remembered for idempotent retries, and as many given-up requests (so
    /// that an attempt arriving after its abandon is refused). Default 1,024.
    /// </summary>
    public int RememberedEndedLeases { get; init; } = 1_024;
}
