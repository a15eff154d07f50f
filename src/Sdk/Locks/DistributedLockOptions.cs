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

    /// <summary>Bound on one grain call (acquire calls answer within the server's per-call wait). Default 25 seconds.</summary>
    public TimeSpan CallTimeout { get; init; } = TimeSpan.FromSeconds(25);

    /// <summary>Clock used for renewals and local expiry. Default <see cref="TimeProvider.System"/>.</summary>
    public TimeProvider TimeProvider { get; init; } = TimeProvider.System;
}
