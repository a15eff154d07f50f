using System.Globalization;
using Granary.Cli.Locks;
using Granary.Client.Configuration;
using Granary.Client.Locks;
using Granary.Locks;
using Granary.Server.Configuration;
using Medallion.Threading.Postgres;
using Medallion.Threading.Redis;
using Npgsql;
using StackExchange.Redis;

namespace Granary.Bench.Locks;

/// <summary>What one lock benchmark operation does: acquire, then release at once.</summary>
public sealed record LockWorkload(bool Contended)
{
    /// <summary>Lease ttl (Granary) / lock expiry (Redis).</summary>
    public static readonly TimeSpan Ttl = TimeSpan.FromSeconds(30);

    /// <summary>Longest wait for one acquire.</summary>
    public static readonly TimeSpan Wait = TimeSpan.FromSeconds(60);

    /// <summary>Unique per run so runs do not meet each other's locks.</summary>
    public string RunId { get; } = Guid.NewGuid().ToString("N")[..8];

    /// <summary>The lock caller <paramref name="caller"/> uses: one per caller, or one for everybody.</summary>
    public string NameFor(int caller) => Contended
        ? $"bench-lock-{RunId}-contended"
        : string.Create(CultureInfo.InvariantCulture, $"bench-lock-{RunId}-{caller}");
}

/// <summary>Granary lock grains through the SDK (acquire with background renewal, release on dispose).</summary>
public sealed class GranaryLockBenchTarget(IGrainFactory grains, LockWorkload workload, string storage) : IBenchTarget
{
    private DistributedLocks[] _clients = [];
    private string _durability = "?";

    /// <summary>Grants as the callers saw them.</summary>
    public GrantLog Log { get; } = new();

    /// <inheritdoc/>
    public string System => "granary";

    /// <inheritdoc/>
    public string Configuration => $"lock grains, {_durability} mode, storage {storage}, SDK DistributedLocks (ttl {LockWorkload.Ttl.TotalSeconds:F0} s, renew at ttl/3)";

    /// <inheritdoc/>
    public async Task SetupAsync(CancellationToken cancellationToken)
    {
        _clients = Enumerable.Range(0, 4096).Select(i => new DistributedLocks(grains, new DistributedLockOptions { Owner = string.Create(CultureInfo.InvariantCulture, $"bench-{i}") })).ToArray();
        _durability = (await grains.GetGrain<ILockGrain>(workload.NameFor(0)).GetStatusAsync()).Durability;
    }

    /// <inheritdoc/>
    public async Task ExecuteAsync(int caller, CancellationToken cancellationToken)
    {
        var requested = GrantLog.Now;
        await using var lease = await _clients[caller].AcquireAsync(workload.NameFor(caller), LockWorkload.Ttl, LockWorkload.Wait, cancellationToken);
        Log.Record(caller, requested, GrantLog.Now, lease.Token, lease.Lease.Arrival);
    }

    /// <inheritdoc/>
    public ValueTask DisposeAsync() => ValueTask.CompletedTask;
}

/// <summary>
/// DistributedLock.Postgres: session advisory locks, one lock object per caller. The connection
/// string is the first storage shard's, with a pool of at least one connection per caller (without
/// multiplexing every held lock holds a connection) and no reset on close (advisory locks are
/// released explicitly, so no session state is left for DISCARD ALL to clear).
/// </summary>
public sealed class PostgresLockBenchTarget(string connectionString, LockWorkload workload, bool multiplexing, int callers) : IBenchTarget
{
    private PostgresDistributedLock[] _locks = [];

    /// <summary>Grants as the callers saw them.</summary>
    public GrantLog Log { get; } = new();

    /// <summary>The connection string the locks use.</summary>
    public string ConnectionString { get; } = Tune(connectionString, callers);

    /// <inheritdoc/>
    public string System => multiplexing ? "distributedlock-postgres-mux" : "distributedlock-postgres";

    /// <inheritdoc/>
    public string Configuration => $"DistributedLock.Postgres 1.3.1, advisory locks, connection-string constructor, multiplexing {(multiplexing ? "on" : "off")}, {Shown(ConnectionString)}";

    /// <summary>The peer's connection string: the given one with Maximum Pool Size at least callers + 10 and No Reset On Close.</summary>
    public static string Tune(string connectionString, int callers)
    {
        var csb = new NpgsqlConnectionStringBuilder(connectionString) { NoResetOnClose = true };
        csb.MaxPoolSize = Math.Max(csb.MaxPoolSize, callers + 10);
        return csb.ConnectionString;
    }

    /// <inheritdoc/>
    public Task SetupAsync(CancellationToken cancellationToken)
    {
        _locks = Enumerable.Range(0, 4096)
            .Select(i => new PostgresDistributedLock(new PostgresAdvisoryLockKey(workload.NameFor(i), allowHashing: true), ConnectionString, o => o.UseMultiplexing(multiplexing)))
            .ToArray();
        return Task.CompletedTask;
    }

    /// <inheritdoc/>
    public async Task ExecuteAsync(int caller, CancellationToken cancellationToken)
    {
        var requested = GrantLog.Now;
        await using var handle = await _locks[caller].AcquireAsync(LockWorkload.Wait, cancellationToken);
        Log.Record(caller, requested, GrantLog.Now, null);
    }

    /// <inheritdoc/>
    public ValueTask DisposeAsync() => ValueTask.CompletedTask;

    private static string Shown(string connectionString)
    {
        var csb = new NpgsqlConnectionStringBuilder(connectionString);
        return string.Create(CultureInfo.InvariantCulture, $"pool {csb.MaxPoolSize}, no reset on close {csb.NoResetOnClose}, database {csb.Database}");
    }
}

/// <summary>DistributedLock.Redis: SET NX PX with a random value, Lua release; waiters poll.</summary>
public sealed class RedisLockBenchTarget(string connectionString, LockWorkload workload) : IBenchTarget
{
    private ConnectionMultiplexer? _redis;
    private RedisDistributedLock[] _locks = [];

    /// <summary>Grants as the callers saw them.</summary>
    public GrantLog Log { get; } = new();

    /// <inheritdoc/>
    public string System => "distributedlock-redis";

    /// <inheritdoc/>
    public string Configuration => $"DistributedLock.Redis 1.1.1, one multiplexer, default options (expiry 30 s, extension cadence 10 s, busy-wait 10-800 ms) at {RedisSecrets.RedisForDisplay(connectionString)}";

    /// <inheritdoc/>
    public async Task SetupAsync(CancellationToken cancellationToken)
    {
        _redis = await ConnectionMultiplexer.ConnectAsync(connectionString);
        var db = _redis.GetDatabase();
        _locks = Enumerable.Range(0, 4096).Select(i => new RedisDistributedLock(workload.NameFor(i), db)).ToArray();
    }

    /// <inheritdoc/>
    public async Task ExecuteAsync(int caller, CancellationToken cancellationToken)
    {
        var requested = GrantLog.Now;
        await using var handle = await _locks[caller].AcquireAsync(LockWorkload.Wait, cancellationToken);
        Log.Record(caller, requested, GrantLog.Now, null);
    }

    /// <inheritdoc/>
    public async ValueTask DisposeAsync()
    {
        if (_redis is not null)
        {
            await _redis.DisposeAsync();
        }
    }
}
