namespace Granary.Locks;

/// <summary>What a lock grants: one holder, N permits, or many readers / one writer.</summary>
public enum LockKind
{
    /// <summary>One holder at a time.</summary>
    Mutex = 0,

    /// <summary>Up to N holders (permits).</summary>
    Semaphore = 1,

    /// <summary>Many shared holders (readers) or one exclusive holder (writer).</summary>
    ReaderWriter = 2,
}

/// <summary>How a lease holds a lock. Mutexes and semaphores use <see cref="Exclusive"/>.</summary>
public enum LeaseMode
{
    /// <summary>A writer (reader-writer lock), the holder of a mutex, or one permit of a semaphore.</summary>
    Exclusive = 0,

    /// <summary>A reader of a reader-writer lock.</summary>
    Shared = 1,
}

/// <summary>Why a lock request was refused. The lock's state is unchanged whenever one is raised.</summary>
public enum LockError
{
    /// <summary>An argument is missing or outside a documented limit.</summary>
    InvalidArgument = 0,

    /// <summary>The caller does not hold a lease with this token (wrong owner, unknown or stale token).</summary>
    NotHolder = 1,

    /// <summary>The lease existed but its ttl ran out before the request arrived.</summary>
    LeaseExpired = 2,

    /// <summary>The request names another kind of lock (or permit count) than the lock currently in use.</summary>
    KindMismatch = 3,

    /// <summary>The waiter queue is full.</summary>
    QueueFull = 4,
}

/// <summary>A refused request on a <see cref="LeaseTable"/>; nothing was changed.</summary>
public sealed class LockRequestException : Exception
{
    /// <summary>Creates the error.</summary>
    public LockRequestException(LockError error, string parameter, string message)
        : base(message)
    {
        Error = error;
        Parameter = parameter;
    }

    /// <summary>Required by the exception pattern.</summary>
    public LockRequestException()
        : this(LockError.InvalidArgument, "request", "invalid request")
    {
    }

    /// <summary>Required by the exception pattern.</summary>
    public LockRequestException(string message)
        : this(LockError.InvalidArgument, "request", message)
    {
    }

    /// <summary>Required by the exception pattern.</summary>
    public LockRequestException(string message, Exception innerException)
        : base(message, innerException)
    {
        Parameter = "request";
    }

    /// <summary>The reason.</summary>
    public LockError Error { get; }

    /// <summary>The argument at fault.</summary>
    public string Parameter { get; }
}
