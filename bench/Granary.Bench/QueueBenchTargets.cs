using System.Globalization;
using System.Text;
using Granary.Client.Configuration;
using Granary.Client.Queues;
using Granary.Queues;
using Granary.Server.Configuration;
using Npgsql;
using NpgsqlTypes;
using StackExchange.Redis;

namespace Granary.Bench;

/// <summary>A queue system driven by producers (enqueue) and consumers (dequeue, then ack).</summary>
public interface IQueueBenchTarget : IAsyncDisposable
{
    /// <summary>System name printed in results.</summary>
    string System { get; }

    /// <summary>How it is configured, printed beside its numbers.</summary>
    string Configuration { get; }

    /// <summary>Creates an empty queue.</summary>
    Task SetupAsync(CancellationToken cancellationToken);

    /// <summary>Enqueues one message; durable (as far as the system offers) when it returns.</summary>
    Task EnqueueAsync(int producer, byte[] body, CancellationToken cancellationToken);

    /// <summary>Enqueues many messages fast (to build up depth before a measurement).</summary>
    Task PreloadAsync(int count, byte[] body, CancellationToken cancellationToken);

    /// <summary>Takes up to a batch of messages and acks them; returns how many (0 when the queue was empty).</summary>
    Task<int> DequeueAndAckAsync(int consumer, CancellationToken cancellationToken);
}

/// <summary>Granary work queue through the SDK: enqueue by message id, long-poll dequeue through the queue grain, one AckMany per partition.</summary>
public sealed class GranaryQueueBenchTarget(IGrainFactory grains, int partitions, int batch, string storage) : IQueueBenchTarget
{
    private readonly QueueClient _client = new(grains);
    private readonly string _queue = "bench-" + DateTime.UtcNow.Ticks.ToString(CultureInfo.InvariantCulture);
    private static readonly TimeSpan Visibility = TimeSpan.FromSeconds(30);
    private static readonly TimeSpan Wait = TimeSpan.FromSeconds(1);

    /// <inheritdoc/>
    public string System => "granary";

    /// <inheritdoc/>
    public string Configuration => string.Create(CultureInfo.InvariantCulture, $"queue with {partitions} partitions, storage {storage}, group commit, dequeue batch {batch} (long poll), ack batch per partition");

    /// <inheritdoc/>
    public Task SetupAsync(CancellationToken cancellationToken) => _client.CreateAsync(_queue, new QueueDefinition(partitions, DeduplicationWindow: TimeSpan.FromSeconds(30)));

    /// <inheritdoc/>
    public Task EnqueueAsync(int producer, byte[] body, CancellationToken cancellationToken) =>
        _client.EnqueueAsync(_queue, new QueueMessageInput(body));

    /// <inheritdoc/>
    public async Task PreloadAsync(int count, byte[] body, CancellationToken cancellationToken)
    {
        var chunks = Enumerable.Range(0, count).Chunk(Limits.MaxBatchSize).ToList();
        await Parallel.ForEachAsync(chunks, new ParallelOptions { MaxDegreeOfParallelism = 4, CancellationToken = cancellationToken }, async (chunk, _) =>
            await _client.EnqueueBatchAsync(_queue, chunk.Select(_ => new QueueMessageInput((byte[])body.Clone())).ToList()));
    }

    /// <inheritdoc/>
    public async Task<int> DequeueAndAckAsync(int consumer, CancellationToken cancellationToken)
    {
        var got = await _client.DequeueAsync(_queue, "bench-" + consumer.ToString(CultureInfo.InvariantCulture), batch, Visibility, Wait);
        if (got.Count > 0)
        {
            await _client.AckManyAsync(_queue, got.Select(m => m.Receipt));
        }

        return got.Count;
    }

    /// <inheritdoc/>
    public ValueTask DisposeAsync() => ValueTask.CompletedTask;
}

/// <summary>
/// PostgreSQL queue table: INSERT to enqueue; consumers run
/// <c>DELETE ... WHERE id IN (SELECT id ... ORDER BY id FOR UPDATE SKIP LOCKED LIMIT n) RETURNING</c>
/// (dequeue and ack in one autocommit statement), prepared, one connection per worker.
/// </summary>
public sealed class PostgresQueueBenchTarget(string connectionString, int batch) : IQueueBenchTarget
{
    private const string Table = "bench_queue";
    private readonly Dictionary<int, (NpgsqlConnection Connection, NpgsqlCommand Command)> _producers = [];
    private readonly Dictionary<int, (NpgsqlConnection Connection, NpgsqlCommand Command)> _consumers = [];
    private readonly Lock _lock = new();

    /// <inheritdoc/>
    public string System => "postgres";

    /// <inheritdoc/>
    public string Configuration => string.Create(CultureInfo.InvariantCulture, $"table {Table}(id bigserial, body bytea), prepared INSERT; DELETE .. FOR UPDATE SKIP LOCKED LIMIT {batch} RETURNING (autocommit: dequeue+ack in one fsync), one connection per worker, synchronous_commit on");

    /// <inheritdoc/>
    public async Task SetupAsync(CancellationToken cancellationToken)
    {
        await using var connection = new NpgsqlConnection(connectionString);
        await connection.OpenAsync(cancellationToken);
        await using var create = new NpgsqlCommand($"DROP TABLE IF EXISTS {Table}; CREATE TABLE {Table} (id bigserial PRIMARY KEY, body bytea NOT NULL)", connection);
        await create.ExecuteNonQueryAsync(cancellationToken);
    }

    /// <inheritdoc/>
    public async Task EnqueueAsync(int producer, byte[] body, CancellationToken cancellationToken)
    {
        var (_, command) = await WorkerAsync(_producers, producer, $"INSERT INTO {Table} (body) VALUES (@b)", NpgsqlDbType.Bytea, cancellationToken);
        command.Parameters[0].Value = body;
        await command.ExecuteNonQueryAsync(cancellationToken);
    }

    /// <inheritdoc/>
    public async Task PreloadAsync(int count, byte[] body, CancellationToken cancellationToken)
    {
        await using var connection = new NpgsqlConnection(connectionString);
        await connection.OpenAsync(cancellationToken);
        await using var load = new NpgsqlCommand($"INSERT INTO {Table} (body) SELECT @b FROM generate_series(1, @n)", connection);
        load.Parameters.AddWithValue("b", body);
        load.Parameters.AddWithValue("n", count);
        await load.ExecuteNonQueryAsync(cancellationToken);
    }

    /// <inheritdoc/>
    public async Task<int> DequeueAndAckAsync(int consumer, CancellationToken cancellationToken)
    {
        var (_, command) = await WorkerAsync(
            _consumers,
            consumer,
            $"DELETE FROM {Table} WHERE id IN (SELECT id FROM {Table} ORDER BY id FOR UPDATE SKIP LOCKED LIMIT @n) RETURNING id, body",
            NpgsqlDbType.Integer,
            cancellationToken);
        command.Parameters[0].Value = batch;
        var taken = 0;
        await using (var reader = await command.ExecuteReaderAsync(cancellationToken))
        {
            while (await reader.ReadAsync(cancellationToken))
            {
                taken++;
            }
        }

        if (taken == 0)
        {
            await Task.Delay(1, cancellationToken); // empty: poll again shortly
        }

        return taken;
    }

    /// <inheritdoc/>
    public async ValueTask DisposeAsync()
    {
        foreach (var (connection, command) in _producers.Values.Concat(_consumers.Values))
        {
            await command.DisposeAsync();
            await connection.DisposeAsync();
        }
    }

    private async Task<(NpgsqlConnection Connection, NpgsqlCommand Command)> WorkerAsync(
        Dictionary<int, (NpgsqlConnection, NpgsqlCommand)> workers, int index, string sql, NpgsqlDbType parameterType, CancellationToken cancellationToken)
    {
        lock (_lock)
        {
            if (workers.TryGetValue(index, out var existing))
            {
                return existing;
            }
        }

        var connection = new NpgsqlConnection(connectionString);
        await connection.OpenAsync(cancellationToken);
        var command = new NpgsqlCommand(sql, connection);
        command.Parameters.Add(new NpgsqlParameter(sql.Contains("@b", StringComparison.Ordinal) ? "b" : "n", parameterType));
        await command.PrepareAsync(cancellationToken);
        lock (_lock)
        {
            workers[index] = (connection, command);
        }

        return (connection, command);
    }
}

/// <summary>
/// Redis reliable queue: LPUSH; consumers LMOVE queue -> processing list, then LREM to ack, one
/// message per round trip. StackExchange.Redis cannot issue blocking commands (BLMOVE), so consumers
/// poll (1 ms pause) when the queue is empty.
/// </summary>
public sealed class RedisQueueBenchTarget(string connectionString) : IQueueBenchTarget
{
    private readonly RedisKey _queue = "bench:queue:" + Guid.NewGuid().ToString("N");
    private ConnectionMultiplexer? _redis;
    private long _sequence;
    private string _persistence = "persistence not read yet";

    /// <inheritdoc/>
    public string System => "redis";

    /// <inheritdoc/>
    public string Configuration => $"StackExchange.Redis, one multiplexer, LPUSH / LMOVE to a processing list / LREM, polling when empty, at {RedisSecrets.RedisForDisplay(connectionString)} ({_persistence})";

    /// <inheritdoc/>
    public async Task SetupAsync(CancellationToken cancellationToken)
    {
        var options = ConfigurationOptions.Parse(connectionString);
        options.AbortOnConnectFail = false;
        options.AllowAdmin = true;
        _redis = await ConnectionMultiplexer.ConnectAsync(options);
        await _redis.GetDatabase().KeyDeleteAsync([_queue, Processing(0)]);
        try
        {
            var server = _redis.GetServer(_redis.GetEndPoints()[0]);
            var settings = (await server.ConfigGetAsync("append*")).Concat(await server.ConfigGetAsync("save")).ToDictionary(p => p.Key, p => p.Value, StringComparer.Ordinal);
            _persistence = settings.GetValueOrDefault("appendonly") == "yes"
                ? $"AOF on, appendfsync {settings.GetValueOrDefault("appendfsync")}" + (settings.GetValueOrDefault("appendfsync") == "always" ? ": acknowledged after fsync, like Granary" : ": not fsynced per message")
                : $"AOF off, save '{settings.GetValueOrDefault("save")}': not durable per message";
        }
        catch (RedisException ex)
        {
            _persistence = "persistence settings unreadable: " + ex.Message;
        }
    }

    /// <inheritdoc/>
    public Task EnqueueAsync(int producer, byte[] body, CancellationToken cancellationToken) =>
        _redis!.GetDatabase().ListLeftPushAsync(_queue, Unique(body));

    /// <inheritdoc/>
    public async Task PreloadAsync(int count, byte[] body, CancellationToken cancellationToken)
    {
        var db = _redis!.GetDatabase();
        foreach (var chunk in Enumerable.Range(0, count).Chunk(1000))
        {
            await db.ListLeftPushAsync(_queue, chunk.Select(_ => (RedisValue)Unique(body)).ToArray());
        }
    }

    /// <inheritdoc/>
    public async Task<int> DequeueAndAckAsync(int consumer, CancellationToken cancellationToken)
    {
        var db = _redis!.GetDatabase();
        var processing = Processing(consumer);
        var message = await db.ListMoveAsync(_queue, processing, ListSide.Right, ListSide.Left);
        if (message.IsNull)
        {
            await Task.Delay(1, cancellationToken); // no blocking LMOVE in StackExchange.Redis: poll
            return 0;
        }

        await db.ListRemoveAsync(processing, message, 1);
        return 1;
    }

    /// <inheritdoc/>
    public async ValueTask DisposeAsync()
    {
        if (_redis is not null)
        {
            await _redis.GetDatabase().KeyDeleteAsync(_queue);
            await _redis.DisposeAsync();
        }
    }

    private RedisKey Processing(int consumer) => _queue.Append(":processing:" + consumer.ToString(CultureInfo.InvariantCulture));

    private byte[] Unique(byte[] body)
    {
        // LREM removes by value: make every message distinct (id in the first bytes, same length).
        var copy = (byte[])body.Clone();
        var id = Encoding.ASCII.GetBytes(Interlocked.Increment(ref _sequence).ToString("D16", CultureInfo.InvariantCulture));
        id.AsSpan(0, Math.Min(id.Length, copy.Length)).CopyTo(copy);
        return copy;
    }
}
