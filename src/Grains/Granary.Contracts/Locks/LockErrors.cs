using Granary.Errors;

namespace Granary.Locks;

/// <summary>Stable error codes of the lock family.</summary>
public static class LockErrorCodes
{
    /// <summary>The caller holds no lease with that token (wrong owner, unknown, stale or released token).</summary>
    public const string LeaseNotHeld = "LEASE_NOT_HELD";

    /// <summary>The lease's ttl ran out.</summary>
    public const string LeaseExpired = "LEASE_EXPIRED";

    /// <summary>The lock is in use as another kind (or another permit count).</summary>
    public const string KindMismatch = "LOCK_KIND_MISMATCH";

    /// <summary>Too many waiters on one lock.</summary>
    public const string QueueFull = "LOCK_QUEUE_FULL";

    /// <summary>The wait ran out before the lock was granted.</summary>
    public const string Timeout = "LOCK_TIMEOUT";

    /// <summary>The lock's activation lost a storage race (another activation wrote first); retry.</summary>
    public const string Unavailable = "LOCK_UNAVAILABLE";

    /// <summary>A fenced resource saw a higher token than the one presented.</summary>
    public const string StaleToken = "STALE_TOKEN";
}

/// <summary>Base of the lock family's errors; <see cref="LockName"/> names the lock or resource.</summary>
[GenerateSerializer, Alias("granary.locks.error")]
public class LockException : GranaryException
{
    /// <summary>Creates the error.</summary>
    public LockException(string code, string lockName, string message)
        : base(code, $"lock '{lockName}': {message}")
    {
        LockName = lockName;
    }

    /// <summary>Required by serializers.</summary>
    public LockException()
        : this(ErrorCodes.Internal, string.Empty, "lock error")
    {
    }

    /// <summary>Required by the exception pattern.</summary>
    public LockException(string message)
        : this(ErrorCodes.Internal, string.Empty, message)
    {
    }

    /// <summary>Required by the exception pattern.</summary>
    public LockException(string message, Exception innerException)
        : base(ErrorCodes.Internal, message, innerException)
    {
        LockName = string.Empty;
    }

    /// <summary>The lock (or fenced resource).</summary>
    [Id(0)]
    public string LockName { get; private set; }
}

/// <summary>Renew or release by someone who does not hold that token; nothing was changed.</summary>
[GenerateSerializer, Alias("granary.locks.error.not-held")]
public sealed class LeaseNotHeldException : LockException
{
    /// <summary>Creates the error.</summary>
    public LeaseNotHeldException(string lockName, string message)
        : base(LockErrorCodes.LeaseNotHeld, lockName, message)
    {
    }

    /// <summary>Required by serializers.</summary>
    public LeaseNotHeldException()
        : this(string.Empty, "lease not held")
    {
    }
}

/// <summary>The lease's ttl ran out before the request; the lock may belong to someone else now.</summary>
[GenerateSerializer, Alias("granary.locks.error.expired")]
public sealed class LeaseExpiredException : LockException
{
    /// <summary>Creates the error.</summary>
    public LeaseExpiredException(string lockName, string message)
        : base(LockErrorCodes.LeaseExpired, lockName, message)
    {
    }

    /// <summary>Required by serializers.</summary>
    public LeaseExpiredException()
        : this(string.Empty, "lease expired")
    {
    }
}

/// <summary>The request names another lock kind or permit count than the lock in use; nothing was changed.</summary>
[GenerateSerializer, Alias("granary.locks.error.kind-mismatch")]
public sealed class LockKindMismatchException : LockException
{
    /// <summary>Creates the error.</summary>
    public LockKindMismatchException(string lockName, string message)
        : base(LockErrorCodes.KindMismatch, lockName, message)
    {
    }

    /// <summary>Required by serializers.</summary>
    public LockKindMismatchException()
        : this(string.Empty, "kind mismatch")
    {
    }
}

/// <summary>The waiter queue is at its limit; nothing was changed.</summary>
[GenerateSerializer, Alias("granary.locks.error.queue-full")]
public sealed class LockQueueFullException : LockException
{
    /// <summary>Creates the error.</summary>
    public LockQueueFullException(string lockName, string message)
        : base(LockErrorCodes.QueueFull, lockName, message)
    {
    }

    /// <summary>Required by serializers.</summary>
    public LockQueueFullException()
        : this(string.Empty, "queue full")
    {
    }
}

/// <summary>The wait ran out before the lock was granted.</summary>
[GenerateSerializer, Alias("granary.locks.error.timeout")]
public sealed class LockTimeoutException : LockException
{
    /// <summary>Creates the error.</summary>
    public LockTimeoutException(string lockName, string message)
        : base(LockErrorCodes.Timeout, lockName, message)
    {
    }

    /// <summary>Required by serializers.</summary>
    public LockTimeoutException()
        : this(string.Empty, "timed out")
    {
    }
}

/// <summary>The lock's activation could not make its state durable (e.g. a second activation wrote first); retry the request.</summary>
[GenerateSerializer, Alias("granary.locks.error.unavailable")]
public sealed class LockUnavailableException : LockException
{
    /// <summary>Creates the error.</summary>
    public LockUnavailableException(string lockName, string message)
        : base(LockErrorCodes.Unavailable, lockName, message)
    {
    }

    /// <summary>Required by serializers.</summary>
    public LockUnavailableException()
        : this(string.Empty, "unavailable")
    {
    }
}

/// <summary>A fenced resource refused a write whose token is below the highest it has seen; nothing was changed.</summary>
[GenerateSerializer, Alias("granary.locks.error.stale-token")]
public sealed class StaleTokenException : LockException
{
    /// <summary>Creates the error.</summary>
    public StaleTokenException(string resource, long token, long highest)
        : base(LockErrorCodes.StaleToken, resource, $"token {token} is below the highest token seen, {highest}")
    {
        Token = token;
        Highest = highest;
    }

    /// <summary>Required by serializers.</summary>
    public StaleTokenException()
        : this(string.Empty, 0, 0)
    {
    }

    /// <summary>The token presented.</summary>
    [Id(0)]
    public long Token { get; private set; }

    /// <summary>The highest token the resource had seen.</summary>
    [Id(1)]
    public long Highest { get; private set; }
}
