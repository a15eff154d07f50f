namespace Granary.Server.Options;

/// <summary>Where grain state is kept.</summary>
public enum StorageMode
{
    /// <summary>Volatile in-process memory: state is lost with its silo. Embedded mode and fast tests.</summary>
    Memory,

    /// <summary>PostgreSQL databases used as shards, a grain's state placed by the consistent hash ring.</summary>
    PostgresShards,
}

/// <summary>Section <c>Granary:Storage</c>: the grain state store.</summary>
public sealed class GranaryStorageOptions
{
    /// <summary>The configuration section bound to this class.</summary>
    public const string SectionName = "Granary:Storage";

    /// <summary>Storage backend. Default <see cref="StorageMode.Memory"/>.</summary>
    public StorageMode Mode { get; set; } = StorageMode.Memory;

    /// <summary>
    /// Npgsql connection strings, one per shard, in order. The shard name is <c>shard-{index}</c>:
    /// append new shards at the end, never reorder (the ring is keyed by shard name).
    /// </summary>
    public string[] Shards { get; set; } = [];

    /// <summary>Virtual nodes per shard on the placement ring. Default 160.</summary>
    public int VirtualNodesPerShard { get; set; } = 160;

    /// <summary>Create shard databases that do not exist yet (needs CREATEDB rights). Default true.</summary>
    public bool CreateDatabases { get; set; } = true;

    /// <summary>
    /// Group commit: state writes that arrive at one shard while earlier ones are in flight go to
    /// PostgreSQL together, as one transaction in one round trip (each still version-checked on
    /// its own). Default true; false sends every write alone through the AdoNet provider.
    /// </summary>
    public bool GroupCommit { get; set; } = true;

    /// <summary>
    /// Group commit: transactions in flight per shard and silo (1..64). Default 1: each transaction
    /// takes every write waiting when it starts, and on a server shared by the shards fewer, larger
    /// commits queue less on its WAL fsync (the measurements are in docs/benchmarks.md). Raise it for
    /// a distant server, where overlapping round trips pays.
    /// </summary>
    public int WritesInFlightPerShard { get; set; } = 1;

    /// <summary>Group commit: most state writes in one transaction (1..1000). Default 256.</summary>
    public int MaxWritesPerBatch { get; set; } = 256;

    /// <summary>Section <c>Granary:Storage:Retry</c>: how the PostgreSQL stores retry transient failures.</summary>
    public StorageRetryOptions Retry { get; set; } = new();
}

/// <summary>
/// Section <c>Granary:Storage:Retry</c>: the one retry policy of Granary's PostgreSQL stores (grain
/// state, queue and cache rows, start-up schema). A statement that fails with a transient error (a
/// terminated or refused connection, a server shutting down or restarting, a serialization
/// failure or deadlock) is sent again after an exponential, jittered delay, at most
/// <see cref="MaxRetries"/> times; then the call fails with <c>UNAVAILABLE</c>. With the defaults a
/// store gives up after about 4.5 s of waiting, well inside a client's call timeout.
/// </summary>
public sealed class StorageRetryOptions
{
    /// <summary>Retries after the first attempt (0..20; 0 turns retrying off). Default 8.</summary>
    public int MaxRetries { get; set; } = 8;

    /// <summary>Delay before the first retry, doubled for each next one (1 ms..10 s). Default 50 ms.</summary>
    public TimeSpan BaseDelay { get; set; } = TimeSpan.FromMilliseconds(50);

    /// <summary>Longest delay between two attempts (at least <see cref="BaseDelay"/>, at most 30 s). Default 1 s.</summary>
    public TimeSpan MaxDelay { get; set; } = TimeSpan.FromSeconds(1);
}
