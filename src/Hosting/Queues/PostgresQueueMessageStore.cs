using Granary.Durability;
using Granary.Queues;
using Granary.Server.Storage;
using Npgsql;
using NpgsqlTypes;

namespace Granary.Server.Queues;

/// <summary>
/// <see cref="IQueueMessageStore"/> on the PostgreSQL shards: a partition's rows live in the shard
/// the ring picks for its key, in two tables of the queue family (created idempotently on first
/// use). A write is one transaction whose first statement checks the partition's epoch (fencing a
/// stale activation) and whose other statements touch only the rows of the changed messages
/// (multi-row insert/update by primary key), so its cost does not depend on the partition's depth.
/// </summary>
/// <remarks>
/// A write whose commit outcome the client does not learn (the connection is lost after COMMIT was
/// sent) throws, whether or not it committed. Re-running a write is safe: its inserts skip rows
/// already in place (a row at one of its sequences can only be its
/// own, since a partition numbers new messages above every row it holds) and its updates and
/// deletes set the same values again. A shared transaction that fails is re-run that way, one
/// partition write at a time, so a write that did commit reports success.
/// </remarks>
public sealed class PostgresQueueMessageStore : IQueueMessageStore, IAsyncDisposable
{
    private const string Schema = """
        CREATE TABLE IF NOT EXISTS granary_queue_partitions (
            service_id    text   NOT NULL,
            partition_key text   NOT NULL,
            epoch         bigint NOT NULL,
            writes        bigint NOT NULL DEFAULT 0,
            PRIMARY KEY (service_id, partition_key));
        CREATE TABLE IF NOT EXISTS granary_queue_messages (
            service_id    text        NOT NULL,
            partition_key text        NOT NULL,
            seq           bigint      NOT NULL,
            message_id    text        NOT NULL,
            message_key   text        NULL,
            body          bytea       NULL,
            enqueued_at   timestamptz NOT NULL,
            visible_at    timestamptz NOT NULL,
            deliveries    integer     NOT NULL,
            status        smallint    NOT NULL,
            settled_at    timestamptz NULL,
            PRIMARY KEY (service_id, partition_key, seq));
        CREATE INDEX IF NOT EXISTS granary_queue_messages_settled
            ON granary_queue_messages (service_id, partition_key, settled_at) WHERE settled_at IS NOT NULL;
        ALTER TABLE granary_queue_messages ADD COLUMN IF NOT EXISTS deduplicated boolean NOT NULL DEFAULT true;
        """;

    private const string RowColumns = "seq, message_id, message_key, enqueued_at, visible_at, deliveries, status, settled_at, deduplicated";

    private const int MaxPartitionWritesPerTransaction = 64;

    // Arrays are expanded by unnest in the select list, not in FROM: a function in FROM is
    // materialized in a tuplestore whose memory PostgreSQL takes from and returns to the OS on
    // every execution (brk, page faults and TLB shootdowns: about 0.7 system calls per
    // transaction under the queue benchmark, gone with this form).
    private const string InsertSql = """
        INSERT INTO granary_queue_messages (service_id, partition_key, seq, message_id, message_key, body, enqueued_at, visible_at, deliveries, status, deduplicated)
        SELECT @s, @p, unnest(@seqs), unnest(@ids), unnest(@keys), unnest(@bodies), unnest(@enq), unnest(@vis), unnest(@dels), 1, unnest(@dedup)
        """;

    // The insert of a write run again (its first run may have committed): rows already in place are
    // its own. Only re-runs pay for the conflict check.
    private const string ReplayInsertSql = InsertSql + " ON CONFLICT (service_id, partition_key, seq) DO NOTHING";

    private readonly ShardRouter _router;
    private readonly Dictionary<string, Shard> _shards = new(StringComparer.Ordinal);
    private readonly string _serviceId;

    /// <summary>
    /// Creates the store over the shard connection strings (same order as <c>Granary:Storage:Shards</c>),
    /// with <paramref name="transactionsInFlightPerShard"/> group-commit transactions at a time per shard.
    /// </summary>
    public PostgresQueueMessageStore(IReadOnlyList<string> shardConnectionStrings, int virtualNodesPerShard, string serviceId, int transactionsInFlightPerShard = 1)
    {
        ArgumentNullException.ThrowIfNull(shardConnectionStrings);
        ArgumentOutOfRangeException.ThrowIfZero(shardConnectionStrings.Count);
        ArgumentOutOfRangeException.ThrowIfLessThan(transactionsInFlightPerShard, 1);
        _router = new ShardRouter(shardConnectionStrings.Count, virtualNodesPerShard);
        for (var i = 0; i < shardConnectionStrings.Count; i++)
        {
            // No sequential scans: every statement here reads by primary key (or the settled
            // index), but the message table churns (rows live for milliseconds), so between
            // autovacuum runs it holds megabytes of dead rows while its statistics say it is
            // nearly empty, and the planner would pick a scan of the whole table for each write.
            var source = StoreDataSources.Create(shardConnectionStrings[i], options: StoreDataSources.KeyedStatementsOnly);

            // Transactions in flight per shard; a partition write waits for a free one and shares it with
            // every other partition write that is waiting at that moment. One measured best on the
            // one-server benchmark machine (every pair of 1 vs 2 or 4 runs: 2-20% more acked messages per
            // second, since the shards' commits then queue less on the shared WAL fsync).
            _shards.Add(StorageNames.Shard(i), new Shard(new FamilyDatabase(source, Schema), CombineAsync, transactionsInFlightPerShard));
        }

        _serviceId = serviceId;
    }

    /// <summary>Drops the idle pooled connections of every shard (after a server restart all of them are dead).</summary>
    internal void ClearIdleConnections()
    {
        foreach (var shard in _shards.Values)
        {
            shard.Source.Clear();
        }
    }

    /// <inheritdoc/>
    public async Task<QueuePartitionSnapshot> OpenAsync(string partition, CancellationToken cancellationToken)
    {
        var shard = await ShardForAsync(partition, cancellationToken);
        await using var connection = await shard.Source.OpenConnectionAsync(cancellationToken);
        await using var bump = new NpgsqlCommand(
            """
            INSERT INTO granary_queue_partitions (service_id, partition_key, epoch, writes) VALUES (@s, @p, 1, 0)
            ON CONFLICT (service_id, partition_key) DO UPDATE SET epoch = granary_queue_partitions.epoch + 1
            RETURNING epoch, (SELECT coalesce(max(seq), 0) FROM granary_queue_messages WHERE service_id = @s AND partition_key = @p)
            """,
            connection);
        bump.Parameters.AddWithValue("s", _serviceId);
        bump.Parameters.AddWithValue("p", partition);
        await using var bumped = await bump.ExecuteReaderAsync(cancellationToken);
        await bumped.ReadAsync(cancellationToken);
        return new QueuePartitionSnapshot(bumped.GetInt64(0), bumped.GetInt64(1));
    }

    /// <inheritdoc/>
    public async Task<IReadOnlyList<StoredQueueMessage>> ReadIndexAsync(string partition, long afterSequence, int limit, CancellationToken cancellationToken)
    {
        ArgumentOutOfRangeException.ThrowIfLessThan(limit, 1);
        return await ReadRowsAsync(
            partition,
            $"SELECT {RowColumns}, NULL::bytea FROM granary_queue_messages WHERE service_id = @s AND partition_key = @p AND seq > @after ORDER BY seq LIMIT @limit",
            command =>
            {
                command.Parameters.AddWithValue("after", afterSequence);
                command.Parameters.AddWithValue("limit", limit);
            },
            cancellationToken);
    }

    /// <inheritdoc/>
    public async Task<IReadOnlyList<StoredQueueMessage>> ReadPageAsync(string partition, QueuePage page, CancellationToken cancellationToken)
    {
        ArgumentNullException.ThrowIfNull(page);
        ArgumentOutOfRangeException.ThrowIfLessThan(page.Limit, 1);
        return await ReadRowsAsync(
            partition,
            $"""
            SELECT {RowColumns}, body FROM granary_queue_messages
            WHERE service_id = @s AND partition_key = @p AND seq > @after AND seq <= @through AND settled_at IS NULL AND status <> {(short)QueueMessageStatus.DeadLettered}
            ORDER BY seq LIMIT @limit
            """,
            command =>
            {
                command.Parameters.AddWithValue("after", page.After);
                command.Parameters.AddWithValue("through", page.Through);
                command.Parameters.AddWithValue("limit", page.Limit);
            },
            cancellationToken);
    }

    /// <inheritdoc/>
    public async Task<IReadOnlyDictionary<long, byte[]>> ReadBodiesAsync(string partition, IReadOnlyCollection<long> sequences, CancellationToken cancellationToken)
    {
        ArgumentNullException.ThrowIfNull(sequences);
        var bodies = new Dictionary<long, byte[]>(sequences.Count);
        if (sequences.Count == 0)
        {
            return bodies;
        }

        var shard = await ShardForAsync(partition, cancellationToken);
        await using var connection = await shard.Source.OpenConnectionAsync(cancellationToken);
        await using var read = new NpgsqlCommand(
            "SELECT seq, body FROM granary_queue_messages WHERE service_id = @s AND partition_key = @p AND seq BETWEEN @lo AND @hi AND seq = ANY(@seqs) AND settled_at IS NULL",
            connection);
        read.Parameters.AddWithValue("s", _serviceId);
        read.Parameters.AddWithValue("p", partition);
        read.Parameters.AddWithValue("lo", sequences.Min());
        read.Parameters.AddWithValue("hi", sequences.Max());
        read.Parameters.Add(new NpgsqlParameter("seqs", NpgsqlDbType.Array | NpgsqlDbType.Bigint) { Value = sequences.ToArray() });
        await using var reader = await read.ExecuteReaderAsync(cancellationToken);
        while (await reader.ReadAsync(cancellationToken))
        {
            if (!reader.IsDBNull(1))
            {
                bodies[reader.GetInt64(0)] = (byte[])reader.GetValue(1);
            }
        }

        return bodies;
    }

    /// <summary>Runs a read of message rows whose columns are <see cref="RowColumns"/> then the body (or NULL).</summary>
    private async Task<IReadOnlyList<StoredQueueMessage>> ReadRowsAsync(string partition, string sql, Action<NpgsqlCommand> parameters, CancellationToken cancellationToken)
    {
        var shard = await ShardForAsync(partition, cancellationToken);
        await using var connection = await shard.Source.OpenConnectionAsync(cancellationToken);
        await using var read = new NpgsqlCommand(sql, connection);
        read.Parameters.AddWithValue("s", _serviceId);
        read.Parameters.AddWithValue("p", partition);
        parameters(read);
        var rows = new List<StoredQueueMessage>();
        await using var reader = await read.ExecuteReaderAsync(cancellationToken);
        while (await reader.ReadAsync(cancellationToken))
        {
            var settled = !reader.IsDBNull(7);
            rows.Add(new StoredQueueMessage(
                reader.GetInt64(0),
                reader.GetString(1),
                reader.IsDBNull(2) ? null : reader.GetString(2),
                reader.IsDBNull(9) ? null : (byte[])reader.GetValue(9),
                Utc(reader.GetDateTime(3)),
                Utc(reader.GetDateTime(4)),
                reader.GetInt32(5),
                (QueueMessageStatus)reader.GetInt16(6),
                settled,
                settled ? Utc(reader.GetDateTime(7)) : default,
                reader.GetBoolean(8)));
        }

        return rows;
    }

    /// <inheritdoc/>
    public async Task WriteAsync(string partition, long epoch, IReadOnlyList<QueuePartitionChange> changes, DateTimeOffset? deleteSettledBefore, CancellationToken cancellationToken)
    {
        ArgumentNullException.ThrowIfNull(changes);
        var shard = await ShardForAsync(partition, cancellationToken);
        var write = new PendingWrite(partition, epoch, BuildCommands(partition, epoch, changes, deleteSettledBefore));
        await shard.Commit.CommitAsync(write).WaitAsync(cancellationToken);
        await write.Completion.Task.WaitAsync(cancellationToken);
    }

    /// <summary>Transactions sent so far, and partition writes they carried (all shards).</summary>
    public (long Transactions, long Writes) Counters =>
        (_shards.Values.Sum(s => Interlocked.Read(ref s.Transactions)), _shards.Values.Sum(s => Interlocked.Read(ref s.Writes)));

    /// <summary>
    /// The statements of one partition write. The first is the fence: it bumps the head row only at
    /// the writer's epoch and divides by the number of rows it updated, so a stale writer's
    /// transaction fails (division by zero) and rolls back whole.
    /// </summary>
    private List<NpgsqlBatchCommand> BuildCommands(string partition, long epoch, IReadOnlyList<QueuePartitionChange> changes, DateTimeOffset? deleteSettledBefore)
    {
        var commands = new List<NpgsqlBatchCommand>(6);
        var fence = new NpgsqlBatchCommand(
            """
            WITH f AS (UPDATE granary_queue_partitions SET writes = writes + 1 WHERE service_id = @s AND partition_key = @p AND epoch = @e RETURNING 1)
            SELECT 1 / count(*) FROM f
            """);
        AddKey(fence, partition);
        fence.Parameters.AddWithValue("e", epoch);
        commands.Add(fence);

        var appends = changes.Where(c => c.Kind == QueueChangeKind.Append).ToList();
        if (appends.Count > 0)
        {
            var insert = new NpgsqlBatchCommand(InsertSql);
            AddKey(insert, partition);
            insert.Parameters.Add(new NpgsqlParameter("seqs", NpgsqlDbType.Array | NpgsqlDbType.Bigint) { Value = appends.Select(c => c.Sequence).ToArray() });
            insert.Parameters.Add(new NpgsqlParameter("ids", NpgsqlDbType.Array | NpgsqlDbType.Text) { Value = appends.Select(c => c.Id).ToArray() });
            insert.Parameters.Add(new NpgsqlParameter("keys", NpgsqlDbType.Array | NpgsqlDbType.Text) { Value = appends.Select(c => c.Key).ToArray() });
            insert.Parameters.Add(new NpgsqlParameter("bodies", NpgsqlDbType.Array | NpgsqlDbType.Bytea) { Value = appends.Select(c => c.Body ?? []).ToArray() });
            insert.Parameters.Add(new NpgsqlParameter("enq", NpgsqlDbType.Array | NpgsqlDbType.TimestampTz) { Value = appends.Select(c => c.EnqueuedAt.UtcDateTime).ToArray() });
            insert.Parameters.Add(new NpgsqlParameter("vis", NpgsqlDbType.Array | NpgsqlDbType.TimestampTz) { Value = appends.Select(c => c.VisibleAt.UtcDateTime).ToArray() });
            insert.Parameters.Add(new NpgsqlParameter("dels", NpgsqlDbType.Array | NpgsqlDbType.Integer) { Value = appends.Select(c => c.Deliveries).ToArray() });
            insert.Parameters.Add(new NpgsqlParameter("dedup", NpgsqlDbType.Array | NpgsqlDbType.Boolean) { Value = appends.Select(c => c.Deduplicated).ToArray() });
            commands.Add(insert);
        }

        // Last change per message wins; updates run before settles so a purge after a dead-letter sticks.
        var updates = changes.Where(c => c.Kind == QueueChangeKind.Update).GroupBy(c => c.Sequence).Select(g => g.Last()).ToList();
        if (updates.Count > 0)
        {
            var update = new NpgsqlBatchCommand(
                """
                UPDATE granary_queue_messages m SET visible_at = u.v, deliveries = u.d, status = u.st
                FROM (SELECT unnest(@seqs) AS seq, unnest(@vis) AS v, unnest(@dels) AS d, unnest(@sts) AS st) AS u
                WHERE m.service_id = @s AND m.partition_key = @p AND m.seq = u.seq AND m.seq BETWEEN @lo AND @hi
                """);
            AddKey(update, partition);
            AddRange(update, updates);
            update.Parameters.Add(new NpgsqlParameter("seqs", NpgsqlDbType.Array | NpgsqlDbType.Bigint) { Value = updates.Select(c => c.Sequence).ToArray() });
            update.Parameters.Add(new NpgsqlParameter("vis", NpgsqlDbType.Array | NpgsqlDbType.TimestampTz) { Value = updates.Select(c => c.VisibleAt.UtcDateTime).ToArray() });
            update.Parameters.Add(new NpgsqlParameter("dels", NpgsqlDbType.Array | NpgsqlDbType.Integer) { Value = updates.Select(c => c.Deliveries).ToArray() });
            update.Parameters.Add(new NpgsqlParameter("sts", NpgsqlDbType.Array | NpgsqlDbType.Smallint) { Value = updates.Select(c => (short)c.Status).ToArray() });
            commands.Add(update);
        }

        var settles = changes.Where(c => c.Kind == QueueChangeKind.Settle).ToList();
        if (settles.Count > 0)
        {
            var settle = new NpgsqlBatchCommand(
                "UPDATE granary_queue_messages SET body = NULL, settled_at = @at WHERE service_id = @s AND partition_key = @p AND seq BETWEEN @lo AND @hi AND seq = ANY(@seqs)");
            AddKey(settle, partition);
            AddRange(settle, settles);
            settle.Parameters.AddWithValue("at", settles.Max(c => c.At).UtcDateTime);
            settle.Parameters.Add(new NpgsqlParameter("seqs", NpgsqlDbType.Array | NpgsqlDbType.Bigint) { Value = settles.Select(c => c.Sequence).ToArray() });
            commands.Add(settle);
        }

        var deletes = changes.Where(c => c.Kind == QueueChangeKind.Delete).ToList();
        if (deletes.Count > 0)
        {
            var delete = new NpgsqlBatchCommand("DELETE FROM granary_queue_messages WHERE service_id = @s AND partition_key = @p AND seq BETWEEN @lo AND @hi AND seq = ANY(@seqs)");
            AddKey(delete, partition);
            AddRange(delete, deletes);
            delete.Parameters.Add(new NpgsqlParameter("seqs", NpgsqlDbType.Array | NpgsqlDbType.Bigint) { Value = deletes.Select(c => c.Sequence).ToArray() });
            commands.Add(delete);
        }

        if (deleteSettledBefore is { } cutoff)
        {
            var delete = new NpgsqlBatchCommand("DELETE FROM granary_queue_messages WHERE service_id = @s AND partition_key = @p AND settled_at < @cut");
            AddKey(delete, partition);
            delete.Parameters.AddWithValue("cut", cutoff.UtcDateTime);
            commands.Add(delete);
        }

        return commands;
    }

    /// <summary>
    /// Group commit across partitions (one <see cref="GroupCommit{TItem}"/> per shard): each write takes
    /// every partition write waiting for this shard and sends them as one <see cref="NpgsqlBatch"/>,
    /// which PostgreSQL runs as one transaction.
    /// If that transaction fails (a fenced partition among them, a lost connection, anything), each
    /// write is run again alone, so one partition's failure is reported to it only, and a write
    /// whose shared transaction did commit although it reported an error reports success. A
    /// partition has at most one write in flight (its flush waits), so two concurrent
    /// transactions never touch the same partition's rows. Whatever an attempt throws fails only the
    /// writes it carried: the group commit goes on, or every later write to the shard would wait forever.
    /// </summary>
    private async Task CombineAsync(Shard shard, IReadOnlyList<PendingWrite> pending)
    {
        try
        {
            await ExecuteAsync(shard, pending, replay: false).ConfigureAwait(false);
            foreach (var write in pending)
            {
                write.Completion.TrySetResult();
            }
        }
        catch (Exception combined) when (pending.Count == 1 && Fenced(combined, pending[0]) is { } fenced)
        {
            // Alone already: the outcome is the caller's to handle (it may have committed).
            throw fenced;
        }
        catch (Exception) when (pending.Count > 1)
        {
            foreach (var write in pending)
            {
                try
                {
                    await ExecuteAsync(shard, [write], replay: true).ConfigureAwait(false);
                    write.Completion.TrySetResult();
                }
                catch (Exception single)
                {
                    write.Completion.TrySetException(Fenced(single, write) ?? single);
                }
            }
        }
    }

    private static QueuePartitionFencedException? Fenced(Exception ex, PendingWrite write) =>
        ex is PostgresException { SqlState: PostgresErrorCodes.DivisionByZero } ? new QueuePartitionFencedException(write.Partition, write.Epoch) : null;

    private async Task ExecuteAsync(Shard shard, IReadOnlyList<PendingWrite> writes, bool replay)
    {
        await using var connection = await shard.Source.OpenConnectionAsync().ConfigureAwait(false);
        await using var batch = new NpgsqlBatch(connection);
        foreach (var write in writes)
        {
            foreach (var command in write.Commands)
            {
                // A command belongs to one batch at a time: a re-run gets fresh copies.
                var copy = new NpgsqlBatchCommand(replay && command.CommandText == InsertSql ? ReplayInsertSql : command.CommandText);
                foreach (NpgsqlParameter parameter in command.Parameters)
                {
                    copy.Parameters.Add(parameter.Clone());
                }

                batch.BatchCommands.Add(copy);
            }
        }

        await batch.ExecuteNonQueryAsync().ConfigureAwait(false);
        Interlocked.Increment(ref shard.Transactions);
        Interlocked.Add(ref shard.Writes, writes.Count);
        if (AfterCommit is { } hook)
        {
            await hook(writes.Count).ConfigureAwait(false);
        }
    }

    /// <summary>
    /// Fault injection for tests: runs after each transaction of this store has committed and before
    /// its writes are reported, with the number of writes it carried. An exception thrown here
    /// reaches the writer exactly like a commit whose answer was lost.
    /// </summary>
    internal Func<int, ValueTask>? AfterCommit { get; set; }

    /// <inheritdoc/>
    public async ValueTask DisposeAsync()
    {
        foreach (var shard in _shards.Values)
        {
            // Writes still queued after the drain fail; one still in flight fails with the data source below.
            await shard.Commit.CloseAsync(TimeSpan.FromSeconds(10));
            await shard.Database.DisposeAsync();
        }
    }

    /// <summary>
    /// The lowest and highest sequence of the rows a statement touches, as index conditions beside
    /// <c>seq = ANY(..)</c>. Without them PostgreSQL's plan (its statistics count live rows only)
    /// walks every index entry of the partition, dead ones included, and filters by the array: a
    /// cost that grew with the partition's churn and depth (seen as heap page scans dominating the
    /// server's profile under load). With them it reads only the key range being written.
    /// </summary>
    private static void AddRange(NpgsqlBatchCommand command, List<QueuePartitionChange> changes)
    {
        long lo = long.MaxValue, hi = long.MinValue;
        foreach (var change in changes)
        {
            lo = Math.Min(lo, change.Sequence);
            hi = Math.Max(hi, change.Sequence);
        }

        command.Parameters.AddWithValue("lo", lo);
        command.Parameters.AddWithValue("hi", hi);
    }

    private void AddKey(NpgsqlBatchCommand command, string partition)
    {
        command.Parameters.AddWithValue("s", _serviceId);
        command.Parameters.AddWithValue("p", partition);
    }

    private async Task<Shard> ShardForAsync(string partition, CancellationToken cancellationToken)
    {
        var shard = _shards[_router.Ring.GetNode("queue-partition:" + partition)];
        await shard.Database.ReadyAsync(cancellationToken);
        return shard;
    }

    private static DateTimeOffset Utc(DateTime value) => new(DateTime.SpecifyKind(value, DateTimeKind.Utc));

    private sealed record PendingWrite(string Partition, long Epoch, IReadOnlyList<NpgsqlBatchCommand> Commands)
    {
        public TaskCompletionSource Completion { get; } = new(TaskCreationOptions.RunContinuationsAsynchronously);
    }

    private sealed class Shard
    {
#pragma warning disable SA1401, CA1051 // counters updated with Interlocked
        public long Transactions;
        public long Writes;
#pragma warning restore SA1401, CA1051

        public Shard(FamilyDatabase database, Func<Shard, IReadOnlyList<PendingWrite>, Task> combine, int inFlight)
        {
            Database = database;
            Commit = new GroupCommit<PendingWrite>(
                pending => combine(this, pending),
                new GroupCommitOptions { MaxInFlight = inFlight, MaxBatch = MaxPartitionWritesPerTransaction, RunOnThreadPool = true });
        }

        public FamilyDatabase Database { get; }

        public NpgsqlDataSource Source => Database.Source;

        /// <summary>The shard's partition writes, sent <see cref="MaxPartitionWritesPerTransaction"/> at most per transaction.</summary>
        public GroupCommit<PendingWrite> Commit { get; }
    }
}
