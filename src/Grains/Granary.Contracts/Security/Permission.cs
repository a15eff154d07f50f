namespace Granary.Security;

/// <summary>
/// What a caller needs to be allowed to call a grain method. Every method of every Granary grain
/// interface names exactly one (with <see cref="RequiresAttribute"/> on the method, or on its
/// interface as the default for the interface's methods). Calls between silos are always allowed;
/// a call from a client connection is allowed when the client's identity holds the permission, and
/// never for <see cref="Internal"/>.
/// </summary>
public enum Permission
{
    /// <summary>A step of a protocol between silos (shard export and import, prepare and commit on a
    /// transaction participant, saga actions, scheduler and worker internals, statistics pushes). No
    /// client identity can hold it: a client that calls such a method gets <c>PERMISSION_DENIED</c>.</summary>
    Internal = 0,

    /// <summary>Read cache entries (<c>cache:read</c>).</summary>
    CacheRead,

    /// <summary>Write and delete cache entries (<c>cache:write</c>).</summary>
    CacheWrite,

    /// <summary>Create, delete and reshard caches (<c>cache:admin</c>).</summary>
    CacheAdmin,

    /// <summary>Publish messages to queues and exchanges (<c>queue:produce</c>).</summary>
    QueueProduce,

    /// <summary>Receive, acknowledge and reject messages (<c>queue:consume</c>).</summary>
    QueueConsume,

    /// <summary>Declare, purge and delete queues and exchanges, redrive dead letters (<c>queue:admin</c>).</summary>
    QueueAdmin,

    /// <summary>Acquire, renew and release locks, use fenced resources (<c>lock:use</c>).</summary>
    LockUse,

    /// <summary>Run transfers, transactions and sagas and read their outcomes (<c>transaction:use</c>).</summary>
    TransactionUse,

    /// <summary>Submit tasks and workflows and read their results (<c>task:submit</c>).</summary>
    TaskSubmit,

    /// <summary>Take and complete tasks as a worker (<c>task:work</c>).</summary>
    TaskWork,

    /// <summary>Cancel others' tasks, pause and configure task queues (<c>task:admin</c>).</summary>
    TaskAdmin,

    /// <summary>Read cluster status and statistics (<c>cluster:read</c>).</summary>
    ClusterRead,

    /// <summary>Rebalance storage shards and other operator actions on the cluster (<c>cluster:admin</c>).</summary>
    ClusterAdmin,

    /// <summary>Read documents (<c>document:read</c>).</summary>
    DocumentRead,

    /// <summary>Write documents (<c>document:write</c>).</summary>
    DocumentWrite,

    /// <summary>Create value: open accounts with a balance, set stock, issue coupons, script the test
    /// participants, seed the benchmark peer's accounts (<c>transaction:admin</c>).</summary>
    TransactionAdmin,
}
