namespace Granary.Sdk.Locks;

/// <summary>Client-side settings of <see cref="DistributedLocks"/>.</summary>
public sealed record DistributedLockOptions
{
    /// <summary>Owner name sent with every request. Default: machine/process/random suffix.</summary>
    public string? Owner { get; init; }

    /// <summary>Renew held leases in the background at a third of their ttl. Default true.</summary>
    public bool AutoRenew { get; init; } = true;

    /// <summary>
    /// How long a request keeps being retried after transient failures (silo loss, an activation
    /// replaced after a storage race) beyond its wait. Default 15 seconds.
    /// </summary>
    public TimeSpan TransientRetryWindow { get; init; } = TimeSpan.FromSeconds(15);

    /// <summary>
    /// Bound on one grain call (acquire calls answer within the server's per-call wait). Default
    /// 30 seconds, the response timeout the lock grain interface declares for acquire, renew and
    /// release (<see cref="Granary.Locks.ILockGrain.ResponseTimeout"/>), which Orleans enforces
    /// without a timer per call (and which overrides the client's Orleans-wide response timeout for
    /// these calls); a shorter bound is enforced by this client on top of it, a longer one has no
    /// effect.
    /// </summary>
    public TimeSpan CallTimeout { get; init; } = DeclaredCallTimeout;

    /// <summary>The lock grain interface's declared response timeout for acquire, renew and release.</summary>
    internal static readonly TimeSpan DeclaredCallTimeout = TimeSpan.Parse(Granary.Locks.ILockGrain.ResponseTimeout, System.Globalization.CultureInfo.InvariantCulture);

    /// <summary>Clock used for renewals and local expiry. Default <see cref="TimeProvider.System"/>.</summary>
    public TimeProvider TimeProvider { get; init; } = TimeProvider.System;
}
