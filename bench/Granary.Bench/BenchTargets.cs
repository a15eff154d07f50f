using System.Globalization;
using Granary.Client.Configuration;
using Granary.Documents;
using Granary.Server.Configuration;
using Npgsql;
using StackExchange.Redis;

namespace Granary.Bench;

/// <summary>One system under a key-value style workload: set up, then called by many callers at once.</summary>
public interface IBenchTarget : IAsyncDisposable
{
    /// <summary>System name printed in results.</summary>
    string System { get; }

    /// <summary>How it is configured, printed beside its numbers.</summary>
    string Configuration { get; }

    /// <summary>Preloads keys so reads hit.</summary>
    Task SetupAsync(CancellationToken cancellationToken);

    /// <summary>One operation by caller <paramref name="caller"/>.</summary>
    Task ExecuteAsync(int caller, CancellationToken cancellationToken);
}

/// <summary>
/// A target with background work of its own (a job server polling its storage) or per-window state (etcd's
/// leases): it is stopped after each of the target's windows and started again before the next, so it never
/// runs during another system's window and nothing of one window reaches the next.
/// </summary>
public interface IBackgroundBenchTarget : IBenchTarget
{
    /// <summary>Stops the background work and waits until it has stopped.</summary>
    Task StopBackgroundAsync(CancellationToken cancellationToken);

    /// <summary>Starts the background work again (after <see cref="StopBackgroundAsync"/>).</summary>
    Task StartBackgroundAsync(CancellationToken cancellationToken);
}

/// <summary>Shape of a key-value workload shared by Granary and its peers so they do the same work.</summary>
public sealed record KeyValueWorkload(bool Write, int Keys, int ValueSize)
{
    /// <summary>The value written (same bytes for every system).</summary>
    public string Value { get; } = new('x', ValueSize);

    /// <summary>Key for an operation; spreads callers over the key space.</summary>
    public string KeyFor(int caller, long sequence) =>
        string.Create(CultureInfo.InvariantCulture, $"bench-{(int)((caller * 7919L + sequence) % Keys)}");
}

/// <summary>Granary document grains (state in the configured grain storage).</summary>
public sealed class DocumentBenchTarget(IGrainFactory grains, KeyValueWorkload workload, string storage) : IBenchTarget
{
    private long _sequence;

    /// <inheritdoc/>
    public string System => "granary";

    /// <inheritdoc/>
    public string Configuration => $"document grains, storage {storage}";

    /// <inheritdoc/>
    public async Task SetupAsync(CancellationToken cancellationToken)
    {
        if (!workload.Write)
        {
            await Parallel.ForEachAsync(Enumerable.Range(0, workload.Keys), new ParallelOptions { MaxDegreeOfParallelism = 64, CancellationToken = cancellationToken }, async (k, _) =>
                await grains.GetGrain<IDocumentGrain>(string.Create(CultureInfo.InvariantCulture, $"bench-{k}")).PutAsync(workload.Value));
        }
    }

    /// <inheritdoc/>
    public Task ExecuteAsync(int caller, CancellationToken cancellationToken)
    {
        var grain = grains.GetGrain<IDocumentGrain>(workload.KeyFor(caller, Interlocked.Increment(ref _sequence)));
        return workload.Write ? grain.PutAsync(workload.Value) : grain.GetAsync();
    }

    /// <inheritdoc/>
    public ValueTask DisposeAsync() => ValueTask.CompletedTask;
}

/// <summary>Redis through StackExchange.Redis: one shared multiplexer, async API (pipelines concurrent callers).</summary>
public sealed class RedisBenchTarget(string connectionString, KeyValueWorkload workload) : IBenchTarget
{
    private ConnectionMultiplexer? _redis;
    private long _sequence;

    /// <inheritdoc/>
    public string System => "redis";

    /// <inheritdoc/>
    public string Configuration => $"StackExchange.Redis, one multiplexer, async GET/SET at {RedisSecrets.RedisForDisplay(connectionString)}";

    /// <inheritdoc/>
    public async Task SetupAsync(CancellationToken cancellationToken)
    {
        _redis = await ConnectionMultiplexer.ConnectAsync(connectionString);
        if (!workload.Write)
        {
            var db = _redis.GetDatabase();
            var batch = new List<Task>(workload.Keys);
            for (var k = 0; k < workload.Keys; k++)
            {
                batch.Add(db.StringSetAsync(string.Create(CultureInfo.InvariantCulture, $"bench-{k}"), workload.Value));
            }

            await Task.WhenAll(batch);
        }
    }

    /// <inheritdoc/>
    public Task ExecuteAsync(int caller, CancellationToken cancellationToken)
    {
        var db = _redis!.GetDatabase();
        var key = workload.KeyFor(caller, Interlocked.Increment(ref _sequence));
        return workload.Write ? db.StringSetAsync(key, workload.Value) : db.StringGetAsync(key);
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

/// <summary>PostgreSQL: one table, prepared single-row SELECT or upsert, pooled connections (one per caller).</summary>
public sealed class PostgresBenchTarget(string connectionString, KeyValueWorkload workload) : IBenchTarget
{
    private NpgsqlDataSource? _source;
    private long _sequence;

    /// <inheritdoc/>
    public string System => "postgres";

    /// <inheritdoc/>
    public string Configuration => "Npgsql pooled data source, auto-prepare, no reset on close, synchronous_commit on, table bench_kv(k text primary key, v text)";

    /// <inheritdoc/>
    public async Task SetupAsync(CancellationToken cancellationToken)
    {
        // Tuned like Granary's own stores: auto-prepare, and no reset on close (no session state).
        var csb = new NpgsqlConnectionStringBuilder(connectionString) { MaxAutoPrepare = 16, AutoPrepareMinUsages = 2, MaxPoolSize = 300, NoResetOnClose = true };
        _source = NpgsqlDataSource.Create(csb.ConnectionString);
        await using var create = _source.CreateCommand("CREATE TABLE IF NOT EXISTS bench_kv (k text PRIMARY KEY, v text NOT NULL)");
        await create.ExecuteNonQueryAsync(cancellationToken);
        if (!workload.Write)
        {
            await using var load = _source.CreateCommand("INSERT INTO bench_kv (k, v) SELECT 'bench-' || g, @v FROM generate_series(0, @n - 1) g ON CONFLICT (k) DO UPDATE SET v = EXCLUDED.v");
            load.Parameters.AddWithValue("v", workload.Value);
            load.Parameters.AddWithValue("n", workload.Keys);
            await load.ExecuteNonQueryAsync(cancellationToken);
        }
    }

    /// <inheritdoc/>
    public async Task ExecuteAsync(int caller, CancellationToken cancellationToken)
    {
        var key = workload.KeyFor(caller, Interlocked.Increment(ref _sequence));
        await using var command = workload.Write
            ? _source!.CreateCommand("INSERT INTO bench_kv (k, v) VALUES (@k, @v) ON CONFLICT (k) DO UPDATE SET v = EXCLUDED.v")
            : _source!.CreateCommand("SELECT v FROM bench_kv WHERE k = @k");
        command.Parameters.AddWithValue("k", key);
        if (workload.Write)
        {
            command.Parameters.AddWithValue("v", workload.Value);
        }

        await command.ExecuteNonQueryAsync(cancellationToken);
    }

    /// <inheritdoc/>
    public async ValueTask DisposeAsync()
    {
        if (_source is not null)
        {
            await _source.DisposeAsync();
        }
    }
}
