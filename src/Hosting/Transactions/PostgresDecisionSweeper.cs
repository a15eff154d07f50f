using System.Diagnostics;
using System.Globalization;
using Granary.Server.Diagnostics;
using Granary.Server.Options;
using Granary.Server.Storage;
using Granary.Transactions;
using Microsoft.Extensions.Logging;
using Microsoft.Extensions.Options;
using Npgsql;
using NpgsqlTypes;
using Orleans.Configuration;
using Orleans.Serialization;
using Orleans.Storage;

namespace Granary.Server.Transactions;

/// <summary>What one sweep did, over every shard it swept.</summary>
/// <param name="Found">Decision records older than the cutoff.</param>
/// <param name="Deleted">Records deleted.</param>
/// <param name="Kept">Records kept: a participant still holds the transaction open, or did not answer.</param>
/// <param name="Unreadable">Records whose payload could not be read (kept).</param>
/// <param name="ShardsSkipped">Shards another silo was sweeping, or swept less than the minimum gap ago.</param>
public sealed record DecisionSweepReport(int Found, int Deleted, int Kept, int Unreadable, int ShardsSkipped)
{
    /// <summary>This report and <paramref name="other"/> added up.</summary>
    public DecisionSweepReport Plus(DecisionSweepReport other)
    {
        ArgumentNullException.ThrowIfNull(other);
        return new(Found + other.Found, Deleted + other.Deleted, Kept + other.Kept, Unreadable + other.Unreadable, ShardsSkipped + other.ShardsSkipped);
    }
}

/// <summary>
/// Deletes two-phase commit decision records (the coordinator rows, state
/// <see cref="TransactionDecisionStore.StateName"/>) once they are older than
/// <see cref="TransactionOptions.DecisionRetention"/> and no participant needs them
/// (<see cref="DecisionSweep"/>), so that the shards do not grow by a row per transaction. Every silo
/// ticks every <see cref="TransactionOptions.DecisionSweepInterval"/>; a PostgreSQL advisory lock per
/// shard lets one silo at a time sweep a shard, and the time of the last finished pass (table
/// <c>granary_maintenance</c>) gives each shard one pass per interval whatever the number of silos.
/// </summary>
/// <remarks>
/// <para>
/// The table is read in ranges of physical blocks (a TID range scan, <see cref="BlocksPerStep"/>
/// blocks, 4 MB, at a time): the sweep needs no index of its own, so no write of any grain pays for
/// one, and each step holds a bounded number of records in memory. A periodic pass reads
/// <see cref="PassFraction"/> of the table from where the last one stopped, so the table is read
/// once per half retention, not once per interval.
/// </para>
/// <para>
/// A record is deleted only as it was read: the delete matches the row's physical position, version
/// and key, so a record changed since (a coordinator that compacted it) stays for the next pass.
/// Deleting ends the replay window of that id: a later request with the same id finds no record and
/// runs as a new transaction, which is why the retention is long (24 hours by default, at least
/// 10 minutes). Memory storage is not swept.
/// </para>
/// </remarks>
public sealed class PostgresDecisionSweeper : ILifecycleParticipant<ISiloLifecycle>, IAsyncDisposable
{
    /// <summary>Blocks read per step: 512 blocks of 8 kB.</summary>
    public const int BlocksPerStep = 512;

    /// <summary>The advisory lock a silo holds on a shard while it sweeps it ('granaryd'; a session lock, released when that shard is done).</summary>
    public const long SweepLockKey = 0x6772616E61727964;

    // Its row in granary_maintenance: when the last pass over a shard finished.
    private const string MaintenanceTask = "decision-sweep";

    private const string SelectSql = $"""
        SELECT ctid, grain_id_extension, version, payload
          FROM {ShardInspector.StateTable}
         WHERE ctid >= $1 AND ctid < $2
           AND service_id = $3 AND grain_type = $4 AND modified_on < $5
           AND payload IS NOT NULL AND grain_id_extension IS NOT NULL
        """;

    // Positions travel as text (Npgsql writes no tid arrays); the join on ctid is a TID scan per row.
    private const string DeleteSql = $"""
        DELETE FROM {ShardInspector.StateTable} AS s
         USING (SELECT unnest($1::text[])::tid AS t, unnest($2::integer[]) AS v, unnest($3::text[]) AS ext) AS d
         WHERE s.ctid = d.t AND s.version = d.v AND s.grain_id_extension = d.ext
           AND s.service_id = $4 AND s.grain_type = $5
        """;

    private readonly GranaryStorageOptions _storage;
    private readonly TransactionOptions _options;
    private readonly string _serviceId;
    private readonly IGrainFactory _grains;
    private readonly GrainStateFormat _format;
    private readonly TimeProvider _time;
    private readonly ILogger<PostgresDecisionSweeper> _logger;
    private readonly Lazy<NpgsqlDataSource[]> _sources;
    private CancellationTokenSource? _stop;
    private Task _loop = Task.CompletedTask;

    /// <summary>Created by DI.</summary>
    public PostgresDecisionSweeper(
        IOptions<GranaryStorageOptions> storage,
        IOptions<TransactionOptions> options,
        IOptions<ClusterOptions> cluster,
        IGrainFactory grains,
        Serializer serializer,
        IGrainStorageSerializer legacy,
        TimeProvider time,
        ILogger<PostgresDecisionSweeper> logger)
    {
        ArgumentNullException.ThrowIfNull(storage);
        ArgumentNullException.ThrowIfNull(options);
        ArgumentNullException.ThrowIfNull(cluster);
        _storage = storage.Value;
        _options = options.Value;
        _serviceId = cluster.Value.ServiceId;
        _grains = grains;
        _format = new GrainStateFormat(serializer, legacy);
        _time = time;
        _logger = logger;
        // Not pooled: closing the connection always ends the session, and with it the sweep's lock.
        _sources = new(() => [.. _storage.Shards.Select(cs => NpgsqlDataSource.Create(new NpgsqlConnectionStringBuilder(cs) { Pooling = false }.ConnectionString))]);
    }

    /// <summary>True when grain state is on PostgreSQL shards (memory storage is not swept).</summary>
    public bool Enabled => _storage.Mode != StorageMode.Memory && _storage.Shards.Length > 0;

    /// <inheritdoc/>
    public void Participate(ISiloLifecycle lifecycle)
    {
        ArgumentNullException.ThrowIfNull(lifecycle);
        if (!Enabled)
        {
            return;
        }

        lifecycle.Subscribe(
            nameof(PostgresDecisionSweeper),
            ServiceLifecycleStage.Active,
            _ =>
            {
                _stop = new CancellationTokenSource();
                _loop = RunAsync(_stop.Token);
                return Task.CompletedTask;
            },
            async _ => await StopAsync());
    }

    /// <summary>
    /// Sweeps every shard once: deletes the decision records last changed before
    /// <paramref name="cutoff"/> that no participant needs, reading <paramref name="tableFraction"/> of
    /// each shard's table (at least <see cref="BlocksPerStep"/> blocks) from where the last pass
    /// stopped, or the whole table from its start when it is 1. Shards another silo is sweeping are
    /// skipped, and so are shards whose last pass (by any silo) finished less than
    /// <paramref name="minimumGap"/> ago.
    /// </summary>
    public async Task<DecisionSweepReport> SweepAsync(DateTimeOffset cutoff, CancellationToken cancellationToken, TimeSpan minimumGap = default, double tableFraction = 1.0)
    {
        var total = new DecisionSweepReport(0, 0, 0, 0, 0);
        var sources = _sources.Value;
        for (var i = 0; i < sources.Length; i++)
        {
            var shard = await SweepShardAsync(StorageNames.Shard(i), sources[i], cutoff, minimumGap, tableFraction, cancellationToken);
            total = total.Plus(shard);
        }

        return total;
    }

    /// <inheritdoc/>
    public async ValueTask DisposeAsync()
    {
        await StopAsync();
        if (_sources.IsValueCreated)
        {
            foreach (var source in _sources.Value)
            {
                await source.DisposeAsync();
            }
        }
    }

    private async Task StopAsync()
    {
        if (_stop is { } stop)
        {
            await stop.CancelAsync();
            try
            {
                await _loop;
            }
            catch (OperationCanceledException)
            {
                // Stopped.
            }

            stop.Dispose();
            _stop = null;
        }
    }

    private async Task RunAsync(CancellationToken cancellationToken)
    {
        using var timer = new PeriodicTimer(_options.DecisionSweepInterval, _time);
        while (await timer.WaitForNextTickAsync(cancellationToken))
        {
            try
            {
                // Every silo ticks; a shard gets one pass per interval (a tenth of it as slack for timer
                // drift), and the passes of half a retention read the whole table once.
                await SweepAsync(_time.GetUtcNow() - _options.DecisionRetention, cancellationToken, _options.DecisionSweepInterval * 0.9, PassFraction(_options));
            }
            catch (Exception ex) when (ex is not OutOfMemoryException && !cancellationToken.IsCancellationRequested)
            {
                HostingLog.DecisionSweepFailed(_logger, ex.GetType().Name + ": " + ex.Message, _options.DecisionSweepInterval);
            }
        }
    }

    /// <summary>
    /// The share of a table one periodic pass reads: two intervals per retention, so that the passes of
    /// half a retention read it all and a record goes at most one and a half retentions after its last
    /// change, while each row is read about twice in its life however often the sweep runs.
    /// </summary>
    public static double PassFraction(TransactionOptions options)
    {
        ArgumentNullException.ThrowIfNull(options);
        return Math.Min(1.0, 2.0 * options.DecisionSweepInterval / options.DecisionRetention);
    }

    private async Task<DecisionSweepReport> SweepShardAsync(string shard, NpgsqlDataSource source, DateTimeOffset cutoff, TimeSpan minimumGap, double tableFraction, CancellationToken cancellationToken)
    {
        var started = Stopwatch.GetTimestamp();
        await using var connection = await source.OpenConnectionAsync(cancellationToken);
        await using (var tryLock = new NpgsqlCommand("SELECT pg_try_advisory_lock($1)", connection))
        {
            tryLock.Parameters.Add(Param(NpgsqlDbType.Bigint, SweepLockKey));
            if (await tryLock.ExecuteScalarAsync(cancellationToken) is not true)
            {
                return new DecisionSweepReport(0, 0, 0, 0, 1);
            }
        }

        int found = 0, deleted = 0, kept = 0, unreadable = 0;
        try
        {
            long cursor = 0;
            await using (var last = new NpgsqlCommand("SELECT now() - last_pass < $3, cursor_block FROM granary_maintenance WHERE service_id = $1 AND task = $2", connection))
            {
                last.Parameters.Add(Param(NpgsqlDbType.Text, _serviceId));
                last.Parameters.Add(Param(NpgsqlDbType.Text, MaintenanceTask));
                last.Parameters.Add(Param(NpgsqlDbType.Interval, minimumGap));
                await using var reader = await last.ExecuteReaderAsync(cancellationToken);
                if (await reader.ReadAsync(cancellationToken))
                {
                    if (minimumGap > TimeSpan.Zero && reader.GetBoolean(0))
                    {
                        return new DecisionSweepReport(0, 0, 0, 0, 1);
                    }

                    cursor = reader.GetInt64(1);
                }
            }

            long blocks;
            await using (var size = new NpgsqlCommand($"SELECT pg_relation_size('{ShardInspector.StateTable}') / current_setting('block_size')::bigint", connection))
            {
                blocks = (long)(await size.ExecuteScalarAsync(cancellationToken))!;
            }

            // The whole table from its start, or a share of it from where the last pass stopped (wrapping).
            var whole = tableFraction >= 1.0;
            var budget = whole ? blocks : Math.Min(blocks, Math.Max(BlocksPerStep, (long)Math.Ceiling(blocks * tableFraction)));
            var from = whole || cursor >= blocks ? 0 : cursor;
            for (var remaining = budget; remaining > 0;)
            {
                var length = Math.Min(Math.Min(BlocksPerStep, remaining), blocks - from);
                var (candidates, rows, bad) = await ReadStepAsync(connection, from, length, cutoff, cancellationToken);
                remaining -= length;
                from = from + length >= blocks ? 0 : from + length;
                unreadable += bad;
                if (candidates.Count == 0)
                {
                    continue;
                }

                found += candidates.Count;
                var finished = await DecisionSweep.FinishedAsync(_grains, candidates, _options.CallTimeout, _time, _logger, cancellationToken);
                var doomed = rows.Where(r => finished.Contains(r.TransactionId)).ToList();
                var removed = doomed.Count == 0 ? 0 : await DeleteAsync(connection, doomed, cancellationToken);
                deleted += removed;
                kept += candidates.Count - removed;
            }

            await using var done = new NpgsqlCommand(
                "INSERT INTO granary_maintenance (service_id, task, last_pass, cursor_block) VALUES ($1, $2, now(), $3) " +
                "ON CONFLICT (service_id, task) DO UPDATE SET last_pass = EXCLUDED.last_pass, cursor_block = EXCLUDED.cursor_block",
                connection);
            done.Parameters.Add(Param(NpgsqlDbType.Text, _serviceId));
            done.Parameters.Add(Param(NpgsqlDbType.Text, MaintenanceTask));
            done.Parameters.Add(Param(NpgsqlDbType.Bigint, whole ? 0 : from));
            await done.ExecuteNonQueryAsync(cancellationToken);
        }
        finally
        {
            await using var unlock = new NpgsqlCommand("SELECT pg_advisory_unlock($1)", connection);
            unlock.Parameters.Add(Param(NpgsqlDbType.Bigint, SweepLockKey));
            await unlock.ExecuteScalarAsync(CancellationToken.None);
        }

        if (found > 0 || unreadable > 0)
        {
            HostingLog.DecisionSweep(_logger, shard, found, cutoff, deleted, kept, unreadable, Stopwatch.GetElapsedTime(started).TotalMilliseconds);
        }

        return new DecisionSweepReport(found, deleted, kept, unreadable, 0);
    }

    private async Task<(List<DecisionCandidate> Candidates, List<Row> Rows, int Unreadable)> ReadStepAsync(NpgsqlConnection connection, long from, long length, DateTimeOffset cutoff, CancellationToken cancellationToken)
    {
        var candidates = new List<DecisionCandidate>();
        var rows = new List<Row>();
        var unreadable = 0;
        await using var select = new NpgsqlCommand(SelectSql, connection);
        select.Parameters.Add(Param(NpgsqlDbType.Tid, new NpgsqlTid((uint)from, 0)));
        select.Parameters.Add(Param(NpgsqlDbType.Tid, new NpgsqlTid((uint)Math.Min(from + length, uint.MaxValue), 0)));
        select.Parameters.Add(Param(NpgsqlDbType.Text, _serviceId));
        select.Parameters.Add(Param(NpgsqlDbType.Text, TransactionDecisionStore.StateName));
        select.Parameters.Add(Param(NpgsqlDbType.TimestampTz, cutoff.UtcDateTime));
        await using var reader = await select.ExecuteReaderAsync(cancellationToken);
        while (await reader.ReadAsync(cancellationToken))
        {
            var row = new Row(reader.GetFieldValue<NpgsqlTid>(0), reader.GetString(1), reader.GetInt32(2));
            CoordinatorState? state;
            try
            {
                state = _format.Deserialize<CoordinatorState>(new BinaryData(reader.GetFieldValue<byte[]>(3)));
            }
            catch (Exception ex) when (ex is not OutOfMemoryException)
            {
                state = null;
            }

            if (state is null)
            {
                unreadable++;
                continue;
            }

            candidates.Add(new DecisionCandidate(row.TransactionId, state));
            rows.Add(row);
        }

        return (candidates, rows, unreadable);
    }

    private async Task<int> DeleteAsync(NpgsqlConnection connection, List<Row> rows, CancellationToken cancellationToken)
    {
        await using var delete = new NpgsqlCommand(DeleteSql, connection);
        delete.Parameters.Add(Param(NpgsqlDbType.Array | NpgsqlDbType.Text, rows.Select(r => string.Create(CultureInfo.InvariantCulture, $"({r.Position.BlockNumber},{r.Position.OffsetNumber})")).ToArray()));
        delete.Parameters.Add(Param(NpgsqlDbType.Array | NpgsqlDbType.Integer, rows.Select(r => r.Version).ToArray()));
        delete.Parameters.Add(Param(NpgsqlDbType.Array | NpgsqlDbType.Text, rows.Select(r => r.TransactionId).ToArray()));
        delete.Parameters.Add(Param(NpgsqlDbType.Text, _serviceId));
        delete.Parameters.Add(Param(NpgsqlDbType.Text, TransactionDecisionStore.StateName));
        return await delete.ExecuteNonQueryAsync(cancellationToken);
    }

    private static NpgsqlParameter Param(NpgsqlDbType type, object value) => new() { NpgsqlDbType = type, Value = value };

    private readonly record struct Row(NpgsqlTid Position, string TransactionId, int Version);
}
