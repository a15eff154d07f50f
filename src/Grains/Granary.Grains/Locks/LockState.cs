namespace Granary.Locks;

/// <summary>Persisted state of <see cref="LockGrain"/> (state name <c>lock-lease</c>).</summary>
[GenerateSerializer, Alias("granary.locks.lock-state")]
public sealed class LockState
{
    /// <summary>Highest token granted and made durable (durable mode).</summary>
    [Id(0)]
    public long LastToken { get; set; }

    /// <summary>Kind of lock in use.</summary>
    [Id(1)]
    public LockType Type { get; set; }

    /// <summary>Semaphore permits.</summary>
    [Id(2)]
    public int Permits { get; set; } = 1;

    /// <summary>Holders at the last write (durable mode).</summary>
    [Id(3)]
    public List<LeaseRecord> Holders { get; set; } = [];

    /// <summary>Activation epoch (fast mode): tokens of an activation are <c>epoch &lt;&lt; 32 | counter</c>.</summary>
    [Id(4)]
    public long Epoch { get; set; }

    /// <summary>Fast mode: the last activation ended with no holders, so no lock-delay is needed.</summary>
    [Id(5)]
    public bool CleanShutdown { get; set; }
}

/// <summary>One persisted holder.</summary>
[GenerateSerializer, Alias("granary.locks.lease-record")]
public sealed class LeaseRecord
{
    /// <summary>Owner.</summary>
    [Id(0)]
    public string Owner { get; set; } = string.Empty;

    /// <summary>Request id of the grant.</summary>
    [Id(1)]
    public string RequestId { get; set; } = string.Empty;

    /// <summary>Fencing token.</summary>
    [Id(2)]
    public long Token { get; set; }

    /// <summary>Reader or writer.</summary>
    [Id(3)]
    public LockAccess Access { get; set; }

    /// <summary>Grant time.</summary>
    [Id(4)]
    public DateTimeOffset GrantedAt { get; set; }

    /// <summary>Expiry.</summary>
    [Id(5)]
    public DateTimeOffset ExpiresAt { get; set; }

    /// <summary>Ttl asked for.</summary>
    [Id(6)]
    public TimeSpan Ttl { get; set; }
}
