using Granary.Security;

namespace Granary.Locks;

/// <summary>
/// A named lease lock (mutex, counting semaphore or reader-writer lock), keyed by lock name
/// (1-256 characters). Grants carry a fencing token that strictly increases per lock forever.
/// Waiters are served FIFO and woken by push: a waiting <see cref="AcquireAsync"/> completes when
/// its turn comes. One call waits at most the server's per-call bound (10 s by default) and then
/// answers <see cref="AcquireResult.StillWaiting"/>; re-issue it with the same request id to keep
/// the place in the queue (the SDK's <c>DistributedLocks</c> does this for you).
/// </summary>
/// <example><code>
/// var grain = grains.GetGrain&lt;ILockGrain&gt;("orders/42");
/// var result = await grain.AcquireAsync(new AcquireRequest("worker-1", Guid.NewGuid().ToString("N"), TimeSpan.FromSeconds(30), TimeSpan.FromSeconds(5)));
/// if (result.Lease is { } lease) { await grain.ReleaseAsync(lease.Owner, lease.Token); }
/// </code></example>
[Requires(Permission.LockUse)]
[Alias("granary.locks.lock")]
public interface ILockGrain : IGrainWithStringKey
{
    /// <summary>
    /// The response timeout of acquire, renew and release, whatever the caller's Orleans default:
    /// above the longest per-call wait a silo may be configured with (25 s), so a waiting acquire
    /// is answered before it times out.
    /// </summary>
    public const string ResponseTimeout = "00:00:30";

    /// <summary>
    /// Acquires a lease, waiting up to <see cref="AcquireRequest.Wait"/>. In the default durable
    /// mode the grant is written to storage before it is returned. Retrying with the same request id
    /// returns the same lease (or the same queue place).
    /// </summary>
    [Alias("acquire")]
    [ResponseTimeout(ResponseTimeout)]
    Task<AcquireResult> AcquireAsync(AcquireRequest request);

    /// <summary>Extends a held lease to <paramref name="ttl"/> from now; only its holder, only before it expires.</summary>
    [Alias("renew")]
    [ResponseTimeout(ResponseTimeout)]
    Task<LockLease> RenewAsync(string owner, long token, TimeSpan ttl);

    /// <summary>Releases a held lease and hands the lock to the next waiter. Wrong owner or token is an error.</summary>
    [Alias("release")]
    [ResponseTimeout(ResponseTimeout)]
    Task ReleaseAsync(string owner, long token);

    /// <summary>The caller of <paramref name="requestId"/> gave up: leaves the queue, or releases what it was granted meanwhile.</summary>
    [Alias("abandon")]
    Task AbandonAsync(string owner, string requestId);

    /// <summary>Holders, tokens, expiries and the waiter queue.</summary>
    [Alias("status")]
    Task<LockStatus> GetStatusAsync();
}

/// <summary>The kind of lock a request expects.</summary>
[GenerateSerializer, Alias("granary.locks.type")]
public enum LockType
{
    /// <summary>One holder.</summary>
    Mutex = 0,

    /// <summary>Up to <see cref="AcquireRequest.Permits"/> holders.</summary>
    Semaphore = 1,

    /// <summary>Many readers or one writer.</summary>
    ReaderWriter = 2,
}

/// <summary>How a lease holds a reader-writer lock (mutexes and semaphores use <see cref="Exclusive"/>).</summary>
[GenerateSerializer, Alias("granary.locks.access")]
public enum LockAccess
{
    /// <summary>Writer / sole holder / one permit.</summary>
    Exclusive = 0,

    /// <summary>Reader.</summary>
    Shared = 1,
}

/// <summary>
/// An acquire request. <see cref="RequestId"/> makes retries idempotent. <see cref="CallWait"/>, when
/// positive, asks the lock to answer a waiting call within that long (at most its own per-call bound)
/// with <see cref="AcquireResult.StillWaiting"/>, so that a caller can bound each call tightly and
/// tell a lost call from a long wait.
/// </summary>
[GenerateSerializer, Alias("granary.locks.acquire-request")]
public sealed record AcquireRequest(
    [property: Id(0)] string Owner,
    [property: Id(1)] string RequestId,
    [property: Id(2)] TimeSpan Ttl,
    [property: Id(3)] TimeSpan Wait,
    [property: Id(4)] LockType Type = LockType.Mutex,
    [property: Id(5)] LockAccess Access = LockAccess.Exclusive,
    [property: Id(6)] int Permits = 1,
    [property: Id(7)] TimeSpan CallWait = default);

/// <summary>
/// The answer to an acquire: a lease, or (lease null) <see cref="StillWaiting"/> = the call's
/// bound passed while still queued (re-issue with the same request id), otherwise the wait ran out.
/// <see cref="Remaining"/> is how long the lease had left when the lock answered, by the lock's
/// clock: a lease returned to a repeated request may have been granted during an earlier attempt,
/// so a caller that counts <see cref="Remaining"/> from when it sent this attempt never trusts the
/// lease longer than the lock does (whatever the clocks' offset, as long as they run at one rate).
/// </summary>
[GenerateSerializer, Alias("granary.locks.acquire-result")]
public sealed record AcquireResult(
    [property: Id(0)] LockLease? Lease,
    [property: Id(1)] bool StillWaiting,
    [property: Id(2)] int QueuePosition,
    [property: Id(3)] TimeSpan Remaining = default);

/// <summary>
/// A granted lease. <see cref="Token"/> is the fencing token to pass to protected resources.
/// <see cref="Arrival"/> numbers requests in the order the lock's activation received them (FIFO:
/// waiters are granted in that order); 0 for leases restored after a restart.
/// </summary>
[GenerateSerializer, Alias("granary.locks.lease")]
public sealed record LockLease(
    [property: Id(0)] string Name,
    [property: Id(1)] string Owner,
    [property: Id(2)] long Token,
    [property: Id(3)] DateTimeOffset GrantedAt,
    [property: Id(4)] DateTimeOffset ExpiresAt,
    [property: Id(5)] TimeSpan Ttl,
    [property: Id(6)] LockAccess Access,
    [property: Id(7)] string RequestId,
    [property: Id(8)] long Arrival = 0);

/// <summary>A queued request.</summary>
[GenerateSerializer, Alias("granary.locks.waiter")]
public sealed record LockWaiterInfo(
    [property: Id(0)] string Owner,
    [property: Id(1)] string RequestId,
    [property: Id(2)] LockAccess Access,
    [property: Id(3)] DateTimeOffset EnqueuedAt);

/// <summary>A lock's state as seen by its activation.</summary>
[GenerateSerializer, Alias("granary.locks.status")]
public sealed record LockStatus(
    [property: Id(0)] string Name,
    [property: Id(1)] LockType Type,
    [property: Id(2)] int Permits,
    [property: Id(3)] long LastToken,
    [property: Id(4)] IReadOnlyList<LockLease> Holders,
    [property: Id(5)] IReadOnlyList<LockWaiterInfo> Waiters,
    [property: Id(6)] string Durability,
    [property: Id(7)] DateTimeOffset? GrantsBlockedUntil,
    [property: Id(8)] string HostedBy);
