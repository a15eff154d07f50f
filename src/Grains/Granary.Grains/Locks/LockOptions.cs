namespace Granary.Locks;

/// <summary>How a lock makes its grants survive the loss of its silo.</summary>
public enum LockDurability
{
    /// <summary>
    /// Every grant and renewal is written to grain storage (ETag-checked) before it is returned: a
    /// new activation knows the holders, their expiries and the last token. Default.
    /// </summary>
    Durable = 0,

    /// <summary>
    /// One write per activation (a token epoch); grants are memory only. Tokens are
    /// <c>epoch &lt;&lt; 32 | counter</c>, so they still increase across activations, and after an
    /// unclean restart the new activation grants nothing for <see cref="LockOptions.LockDelay"/>
    /// (default: the maximum ttl), so any lease the lost activation granted has expired first.
    /// </summary>
    Fast = 1,
}

/// <summary>Section <c>Granary:Locks</c>: lock lease limits and durability.</summary>
public sealed class LockOptions
{
    /// <summary>The configuration section bound to this class.</summary>
    public const string SectionName = "Granary:Locks";

    /// <summary>Durability of grants. Default <see cref="LockDurability.Durable"/>.</summary>
    public LockDurability Durability { get; set; } = LockDurability.Durable;

    /// <summary>Longest ttl a lease may ask for. Default 5 minutes.</summary>
    public TimeSpan MaxTtl { get; set; } = TimeSpan.FromMinutes(5);

    /// <summary>Longest total wait an acquire may ask for. Default 1 hour.</summary>
    public TimeSpan MaxWait { get; set; } = TimeSpan.FromHours(1);

    /// <summary>
    /// Longest time one acquire call waits on the server before answering "still waiting" (the
    /// client re-issues it with the same request id). Must stay below the Orleans response timeout
    /// (30 s by default). Default 10 seconds.
    /// </summary>
    public TimeSpan MaxCallWait { get; set; } = TimeSpan.FromSeconds(10);

    /// <summary>Most waiters queued on one lock. Default 10,000.</summary>
    public int MaxWaiters { get; set; } = 10_000;

    /// <summary>
    /// Fast mode: how long a new activation grants nothing after an unclean restart. Default null =
    /// <see cref="MaxTtl"/> + <see cref="ActivationLease"/> (the validator refuses less).
    /// </summary>
    public TimeSpan? LockDelay { get; set; }

    /// <summary>
    /// Fast mode: an activation may grant and renew only while its activation lease runs; it renews
    /// the lease with an ETag-checked write every third of it. A newer activation's epoch write
    /// makes that renewal fail, and the older activation stops granting at the latest when its
    /// lease runs out. Default 3 seconds.
    /// </summary>
    public TimeSpan ActivationLease { get; set; } = TimeSpan.FromSeconds(3);

    /// <summary>The lock-delay in effect.</summary>
    public TimeSpan EffectiveLockDelay => LockDelay ?? (MaxTtl + ActivationLease);
}
