namespace Granary.Client.Locks;

/// <summary>Client-side settings of <see cref="DistributedLocks"/>, validated when the client is created.</summary>
public sealed record DistributedLockOptions
{
    /// <summary>Owner name sent with every request. Default: machine/process/random suffix.</summary>
    public string? Owner { get; init; }

    /// <summary>Renew held leases in the background at a third of their ttl. Default true.</summary>
    public bool AutoRenew { get; init; } = true;

    /// <summary>
    /// How long an acquire keeps being retried after failures (silo or gateway loss, an activation
    /// replaced after a storage race) beyond its wait. Default 15 seconds; 0 to 1 hour.
    /// </summary>
    public TimeSpan TransientRetryWindow { get; init; } = TimeSpan.FromSeconds(15);

    /// <summary>
    /// Bound on one attempt of a grain call, beyond the time the lock was asked to hold it: a waiting
    /// acquire asks the lock to answer within this long (then re-issues itself, keeping its place),
    /// so an acquire attempt is bounded by twice this, a renewal by the smaller of this and a third
    /// of the ttl, a release by this. An attempt not answered in time is sent again with the same
    /// request id or token (the lock treats repeats idempotently), which Orleans routes through a
    /// live gateway when the one that carried the first attempt died. Default 5 seconds; 10 ms to
    /// 30 seconds (the response timeout <see cref="Granary.Locks.ILockGrain.ResponseTimeout"/> that
    /// Orleans enforces anyway).
    /// </summary>
    public TimeSpan CallTimeout { get; init; } = TimeSpan.FromSeconds(5);

    /// <summary>
    /// How long <see cref="LockHandle.DisposeAsync"/> waits for the lock to confirm a release. A
    /// release not confirmed by then keeps being retried in the background until the lease would have
    /// expired anyway (<see cref="LockHandle.ReleaseAsync"/> reports the outcome). Default 10 seconds
    /// (a lost attempt and its retry); 0 to 5 minutes.
    /// </summary>
    public TimeSpan ReleaseWait { get; init; } = TimeSpan.FromSeconds(10);

    /// <summary>The lock grain interface's declared response timeout for acquire, renew and release.</summary>
    internal static readonly TimeSpan DeclaredCallTimeout = TimeSpan.Parse(Granary.Locks.ILockGrain.ResponseTimeout, System.Globalization.CultureInfo.InvariantCulture);

    /// <summary>Clock used for renewals, local expiry, attempt bounds and retry delays. Default <see cref="TimeProvider.System"/>.</summary>
    public TimeProvider TimeProvider { get; init; } = TimeProvider.System;
}
