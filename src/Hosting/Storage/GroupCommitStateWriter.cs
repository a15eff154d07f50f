using System.Globalization;
using System.Text;
using Granary.Durability;
using Npgsql;
using NpgsqlTypes;
using Orleans.Storage;

namespace Granary.Server.Storage;

/// <summary>
/// Group commit of grain state writes to one PostgreSQL shard, over a <see cref="GroupCommit{TItem}"/>:
/// writes are queued, and each of a few writes in flight takes every write waiting (up to a batch
/// limit) and sends them as one <see cref="NpgsqlBatch"/>,
/// which PostgreSQL runs as one transaction: one round trip and one commit for the lot. A batch is
/// one set-based statement: an <c>UPDATE ... FROM unnest(...)</c> that matches each row only at its
/// expected version, and an <c>INSERT ... ON CONFLICT DO NOTHING</c> for states never stored, with
/// the same rules as the schema's <c>granary_write_grain_state</c>; so a write whose ETag is stale
/// changes nothing and fails alone with <see cref="InconsistentStateException"/>, exactly as the
/// AdoNet provider would report it. A batch holding two writes of the same row uses one
/// <c>granary_write_grain_state</c> call per write instead (in order). If a batch fails as a whole,
/// its writes are run again one by one so that one bad write cannot fail the others.
/// </summary>
/// <remarks>
/// <para>
/// A batch can fail although it committed (the connection was lost after COMMIT was sent). Running
/// a write again is safe: a write that matches nothing but finds its row exactly as it would have
/// left it (its payload, at the version after its ETag) is that write, already applied, and reports
/// success with that version. So a write whose shared batch committed unseen reports success, and
/// a grain that writes the same state again after an unknown outcome is not told "conflict" for its
/// own write. A write alone in a failed batch reports the error: its outcome is unknown, and the
/// grain's next write (ETag still the old one) either succeeds or, if the first did commit with
/// other content, fails with <see cref="InconsistentStateException"/>, which deactivates the grain
/// so that it reloads what is stored. Nothing is stored twice or lost without an error.
/// </para>
/// <para>
/// Whatever an attempt throws (an out-of-memory too) fails only the writes it carried; the group
/// commit goes on, or every later write to the shard would wait forever.
/// </para>
/// <para>
/// Rows are keyed the way the shard's AdoNet provider keys them (its hash picker, the grain's
/// numeric and string key parts, the state name, the service id) and payloads use its serializer,
/// so the provider reads and clears what this writer wrote.
/// </para>
/// </remarks>
public sealed class GroupCommitStateWriter : IAsyncDisposable
{
    private const string WriteSql = "SELECT granary_write_grain_state($1, $2, $3, $4, $5, $6, $7, $8, $9)";

    // One statement for a batch without repeated rows: each input row carries its position (i);
    // the result lists the positions written and their new versions (a missing position matched
    // nothing: stale version, or a row that already existed for an insert).
    // The arrays are expanded by unnest in the select list, not in FROM, where PostgreSQL would
    // materialize them in a tuplestore that allocates and frees memory from the OS per execution.
    private const string BatchWriteSql = """
        WITH input AS (
            SELECT unnest($1::integer[]) AS h, unnest($2::bigint[]) AS n0, unnest($3::bigint[]) AS n1,
                   unnest($4::integer[]) AS th, unnest($5::text[]) AS tn, unnest($6::text[]) AS ext,
                   unnest($7::integer[]) AS ver, unnest($8::bytea[]) AS p, unnest($9::integer[]) AS i),
        updated AS (
            UPDATE granary_grain_state AS s
               SET payload = input.p, version = s.version + 1, modified_on = now()
              FROM input
             WHERE input.ver IS NOT NULL
               AND s.grain_id_hash = input.h AND s.grain_type_hash = input.th
               AND s.grain_id_n0 = input.n0 AND s.grain_id_n1 = input.n1
               AND s.grain_type = input.tn AND s.service_id = $10
               AND s.grain_id_extension IS NOT DISTINCT FROM input.ext
               AND s.version = input.ver
            RETURNING input.i, s.version),
        inserted AS (
            INSERT INTO granary_grain_state AS s
                (service_id, grain_id_hash, grain_id_n0, grain_id_n1, grain_id_extension, grain_type_hash, grain_type, payload, version, modified_on)
            SELECT $10, h, n0, n1, ext, th, tn, p, 1, now() FROM input WHERE ver IS NULL
            ON CONFLICT DO NOTHING
            RETURNING s.grain_id_hash, s.grain_type_hash, s.grain_id_n0, s.grain_id_n1, s.grain_type, s.grain_id_extension, s.version)
        SELECT i, version FROM updated
        UNION ALL
        SELECT input.i, inserted.version
          FROM inserted JOIN input
            ON input.ver IS NULL
           AND inserted.grain_id_hash = input.h AND inserted.grain_type_hash = input.th
           AND inserted.grain_id_n0 = input.n0 AND inserted.grain_id_n1 = input.n1
           AND inserted.grain_type = input.tn
           AND inserted.grain_id_extension IS NOT DISTINCT FROM input.ext
        """;

    // The writes among $1-$9 whose row already holds their payload at the version they would set.
    private const string AppliedSql = """
        WITH input AS (
            SELECT unnest($1::integer[]) AS h, unnest($2::bigint[]) AS n0, unnest($3::bigint[]) AS n1,
                   unnest($4::integer[]) AS th, unnest($5::text[]) AS tn, unnest($6::text[]) AS ext,
                   unnest($7::integer[]) AS ver, unnest($8::bytea[]) AS p, unnest($9::integer[]) AS i)
        SELECT input.i, s.version
          FROM input JOIN granary_grain_state AS s
            ON s.grain_id_hash = input.h AND s.grain_type_hash = input.th
           AND s.grain_id_n0 = input.n0 AND s.grain_id_n1 = input.n1
           AND s.grain_type = input.tn AND s.service_id = $10
           AND s.grain_id_extension IS NOT DISTINCT FROM input.ext
           AND s.version = COALESCE(input.ver, 0) + 1
           AND s.payload = input.p
        """;

    private readonly NpgsqlDataSource _source;
    private readonly AdoNetGrainStorage _provider;
    private readonly string _shardName;
    private readonly string _serviceId;
    private readonly GroupCommit<PendingWrite> _commit;
    private long _batches;
    private long _writes;

    /// <summary>Creates the writer for the shard: <paramref name="inFlight"/> transactions at a time, <paramref name="maxBatch"/> writes each at most.</summary>
    public GroupCommitStateWriter(string connectionString, AdoNetGrainStorage provider, string shardName, string serviceId, int inFlight, int maxBatch)
    {
        ArgumentNullException.ThrowIfNull(provider);
        // Every statement here matches rows by their identity index (see StoreDataSources.KeyedStatementsOnly).
        _source = StoreDataSources.Create(connectionString, maxAutoPrepare: 8, options: StoreDataSources.KeyedStatementsOnly);
        _provider = provider;
        _shardName = shardName;
        _serviceId = serviceId;
        _commit = new GroupCommit<PendingWrite>(WriteBatchAsync, new GroupCommitOptions { MaxInFlight = inFlight, MaxBatch = maxBatch, RunOnThreadPool = true });
    }

    /// <summary>Transactions sent so far.</summary>
    public long Batches => Interlocked.Read(ref _batches);

    /// <summary>State writes sent so far.</summary>
    public long Writes => Interlocked.Read(ref _writes);

    /// <summary>True when this writer can store the state (a plain, non-generic state name).</summary>
    public static bool Handles(string stateName) => !string.IsNullOrEmpty(stateName) && !stateName.Contains('`', StringComparison.Ordinal);

    /// <summary>Drops the writer's idle pooled connections (after a server restart all of them are dead).</summary>
    internal void ClearIdleConnections() => _source.Clear();

    /// <summary>Writes the state, version-checked against its ETag; completes when committed.</summary>
    public async Task WriteStateAsync<T>(string stateName, GrainId grainId, IGrainState<T> grainState)
    {
        ArgumentNullException.ThrowIfNull(grainState);
        var key = RowKey.Of(grainId);
        var hasher = _provider.HashPicker.PickHasher(_serviceId, _shardName, stateName, grainId, grainState)
            ?? throw new InvalidOperationException($"The storage provider '{_shardName}' has no hasher for '{stateName}'.");
        var expected = string.IsNullOrWhiteSpace(grainState.ETag) ? (int?)null : int.Parse(grainState.ETag, CultureInfo.InvariantCulture);
        var pending = new PendingWrite(
            hasher.Hash(key.HashBytes()),
            key.N0,
            key.N1,
            hasher.Hash(Encoding.UTF8.GetBytes(stateName)),
            stateName,
            key.Extension,
            expected,
            _provider.Serializer.Serialize(grainState.State).ToArray());
        await _commit.CommitAsync(pending).ConfigureAwait(false);
        var version = await pending.Completion.Task.ConfigureAwait(false);
        if (version is null || version == expected)
        {
            throw new InconsistentStateException(string.Create(
                CultureInfo.InvariantCulture,
                $"Version conflict (WriteState): ServiceId={_serviceId} ProviderName={_shardName} GrainType={stateName} GrainId={grainId} ETag={grainState.ETag}."));
        }

        grainState.ETag = version.Value.ToString(CultureInfo.InvariantCulture);
        grainState.RecordExists = true;
    }

    /// <inheritdoc/>
    public async ValueTask DisposeAsync()
    {
        // Writes still queued after the drain fail with ObjectDisposedException.
        await _commit.CloseAsync(TimeSpan.FromSeconds(10)).ConfigureAwait(false);
        await _source.DisposeAsync().ConfigureAwait(false);
    }

    /// <summary>One group-commit write: the batch in one transaction, or, if that fails, each write in its own.</summary>
    private async Task WriteBatchAsync(IReadOnlyList<PendingWrite> batch)
    {
        try
        {
            await ExecuteAsync(batch).ConfigureAwait(false);
        }
        catch (Exception) when (batch.Count > 1)
        {
            // Nothing of the batch committed, or the client cannot tell: give every write its
            // own transaction (one that did commit finds itself applied and reports success).
            foreach (var write in batch)
            {
                try
                {
                    await ExecuteAsync([write]).ConfigureAwait(false);
                }
                catch (Exception single)
                {
                    write.Completion.TrySetException(single);
                }
            }
        }
    }

    /// <summary>
    /// Fault injection for tests: runs after each transaction of this writer has committed and before
    /// its writes are reported, with the number of writes it carried. An exception thrown here
    /// reaches the writer exactly like a commit whose answer was lost.
    /// </summary>
    internal Func<int, ValueTask>? AfterCommit { get; set; }

    private async Task ExecuteAsync(IReadOnlyList<PendingWrite> writes)
    {
        await using var connection = await _source.OpenConnectionAsync().ConfigureAwait(false);
        var results = writes.Count > 1 && !HasRepeatedRow(writes)
            ? await ExecuteSetAsync(connection, writes).ConfigureAwait(false)
            : await ExecuteEachAsync(connection, writes).ConfigureAwait(false);

        // The reader is done: the implicit transaction has committed.
        Interlocked.Increment(ref _batches);
        Interlocked.Add(ref _writes, writes.Count);
        if (AfterCommit is { } hook)
        {
            await hook(writes.Count).ConfigureAwait(false);
        }

        if (Array.IndexOf(results, null) >= 0)
        {
            await FindAppliedAsync(connection, writes, results).ConfigureAwait(false);
        }

        for (var i = 0; i < writes.Count; i++)
        {
            writes[i].Completion.TrySetResult(results[i]);
        }
    }

    private static bool HasRepeatedRow(IReadOnlyList<PendingWrite> writes)
    {
        var seen = new HashSet<(int, long, long, int, string, string?)>();
        foreach (var w in writes)
        {
            if (!seen.Add((w.GrainIdHash, w.N0, w.N1, w.GrainTypeHash, w.StateName, w.Extension)))
            {
                return true;
            }
        }

        return false;
    }

    private async Task<int?[]> ExecuteSetAsync(NpgsqlConnection connection, IReadOnlyList<PendingWrite> writes)
    {
        await using var command = new NpgsqlCommand(BatchWriteSql, connection);
        AddRows(command, writes, [.. Enumerable.Range(0, writes.Count)]);
        var results = new int?[writes.Count];
        await using var reader = await command.ExecuteReaderAsync().ConfigureAwait(false);
        while (await reader.ReadAsync().ConfigureAwait(false))
        {
            results[reader.GetInt32(0)] = reader.GetInt32(1);
        }

        return results;
    }

    private async Task<int?[]> ExecuteEachAsync(NpgsqlConnection connection, IReadOnlyList<PendingWrite> writes)
    {
        await using var batch = new NpgsqlBatch(connection);
        foreach (var w in writes)
        {
            var command = new NpgsqlBatchCommand(WriteSql);
            command.Parameters.Add(new NpgsqlParameter { NpgsqlDbType = NpgsqlDbType.Integer, Value = w.GrainIdHash });
            command.Parameters.Add(new NpgsqlParameter { NpgsqlDbType = NpgsqlDbType.Bigint, Value = w.N0 });
            command.Parameters.Add(new NpgsqlParameter { NpgsqlDbType = NpgsqlDbType.Bigint, Value = w.N1 });
            command.Parameters.Add(new NpgsqlParameter { NpgsqlDbType = NpgsqlDbType.Integer, Value = w.GrainTypeHash });
            command.Parameters.Add(new NpgsqlParameter { NpgsqlDbType = NpgsqlDbType.Text, Value = w.StateName });
            command.Parameters.Add(new NpgsqlParameter { NpgsqlDbType = NpgsqlDbType.Text, Value = (object?)w.Extension ?? DBNull.Value });
            command.Parameters.Add(new NpgsqlParameter { NpgsqlDbType = NpgsqlDbType.Text, Value = _serviceId });
            command.Parameters.Add(new NpgsqlParameter { NpgsqlDbType = NpgsqlDbType.Integer, Value = w.ExpectedVersion is { } v ? v : DBNull.Value });
            command.Parameters.Add(new NpgsqlParameter { NpgsqlDbType = NpgsqlDbType.Bytea, Value = w.Payload });
            batch.BatchCommands.Add(command);
        }

        var results = new int?[writes.Count];
        await using var reader = await batch.ExecuteReaderAsync().ConfigureAwait(false);
        var i = 0;
        do
        {
            if (await reader.ReadAsync().ConfigureAwait(false))
            {
                results[i] = reader.IsDBNull(0) ? null : reader.GetInt32(0);
            }

            i++;
        }
        while (await reader.NextResultAsync().ConfigureAwait(false));
        return results;
    }

    /// <summary>
    /// For writes that matched nothing: a row holding exactly the write's payload at the version the
    /// write would have set is that write, applied by an earlier run (a commit whose answer was
    /// lost), so it reports that version instead of a conflict.
    /// </summary>
    private async Task FindAppliedAsync(NpgsqlConnection connection, IReadOnlyList<PendingWrite> writes, int?[] results)
    {
        var unmatched = Enumerable.Range(0, writes.Count).Where(i => results[i] is null).ToArray();
        await using var command = new NpgsqlCommand(AppliedSql, connection);
        AddRows(command, [.. unmatched.Select(i => writes[i])], unmatched);
        await using var reader = await command.ExecuteReaderAsync().ConfigureAwait(false);
        while (await reader.ReadAsync().ConfigureAwait(false))
        {
            results[reader.GetInt32(0)] = reader.GetInt32(1);
        }
    }

    /// <summary>The rows of <see cref="BatchWriteSql"/> and <see cref="AppliedSql"/>: $1-$9 one array per column, $10 the service id.</summary>
    private void AddRows(NpgsqlCommand command, IReadOnlyList<PendingWrite> writes, int[] positions)
    {
        command.Parameters.Add(new NpgsqlParameter { NpgsqlDbType = NpgsqlDbType.Array | NpgsqlDbType.Integer, Value = writes.Select(w => w.GrainIdHash).ToArray() });
        command.Parameters.Add(new NpgsqlParameter { NpgsqlDbType = NpgsqlDbType.Array | NpgsqlDbType.Bigint, Value = writes.Select(w => w.N0).ToArray() });
        command.Parameters.Add(new NpgsqlParameter { NpgsqlDbType = NpgsqlDbType.Array | NpgsqlDbType.Bigint, Value = writes.Select(w => w.N1).ToArray() });
        command.Parameters.Add(new NpgsqlParameter { NpgsqlDbType = NpgsqlDbType.Array | NpgsqlDbType.Integer, Value = writes.Select(w => w.GrainTypeHash).ToArray() });
        command.Parameters.Add(new NpgsqlParameter { NpgsqlDbType = NpgsqlDbType.Array | NpgsqlDbType.Text, Value = writes.Select(w => w.StateName).ToArray() });
        command.Parameters.Add(new NpgsqlParameter { NpgsqlDbType = NpgsqlDbType.Array | NpgsqlDbType.Text, Value = writes.Select(w => w.Extension).ToArray() });
        command.Parameters.Add(new NpgsqlParameter { NpgsqlDbType = NpgsqlDbType.Array | NpgsqlDbType.Integer, Value = writes.Select(w => w.ExpectedVersion).ToArray() });
        command.Parameters.Add(new NpgsqlParameter { NpgsqlDbType = NpgsqlDbType.Array | NpgsqlDbType.Bytea, Value = writes.Select(w => w.Payload).ToArray() });
        command.Parameters.Add(new NpgsqlParameter { NpgsqlDbType = NpgsqlDbType.Array | NpgsqlDbType.Integer, Value = positions });
        command.Parameters.Add(new NpgsqlParameter { NpgsqlDbType = NpgsqlDbType.Text, Value = _serviceId });
    }

    private sealed record PendingWrite(int GrainIdHash, long N0, long N1, int GrainTypeHash, string StateName, string? Extension, int? ExpectedVersion, byte[] Payload)
    {
        public TaskCompletionSource<int?> Completion { get; } = new(TaskCreationOptions.RunContinuationsAsynchronously);
    }

    /// <summary>A grain id's key parts as the AdoNet provider stores them.</summary>
    private readonly record struct RowKey(long N0, long N1, string? Extension, int Kind)
    {
        private const int LongKey = 1;
        private const int GuidKey = 2;
        private const int StringKey = 3;

        public static RowKey Of(GrainId grainId)
        {
            if (grainId.TryGetGuidKey(out var guid, out var guidExtension))
            {
                var bytes = guid.ToByteArray();
                return new RowKey(BitConverter.ToInt64(bytes, 0), BitConverter.ToInt64(bytes, 8), guidExtension, GuidKey);
            }

            if (grainId.TryGetIntegerKey(out var integer, out var integerExtension))
            {
                return new RowKey(0, integer, integerExtension, LongKey);
            }

            return new RowKey(0, 0, grainId.Key.ToString(), StringKey);
        }

        /// <summary>The bytes the provider hashes: numeric key (little-endian) then the UTF-8 string part, reversed on little-endian machines.</summary>
        public byte[] HashBytes()
        {
            byte[] bytes;
            if (Kind == LongKey)
            {
                bytes = BitConverter.GetBytes(N1);
            }
            else if (Kind == GuidKey)
            {
                bytes = GuidOf(N0, N1).ToByteArray();
            }
            else
            {
                bytes = [];
            }

            if (Extension is not null)
            {
                bytes = [.. bytes, .. Encoding.UTF8.GetBytes(Extension)];
            }

            if (BitConverter.IsLittleEndian)
            {
                Array.Reverse(bytes);
            }

            return bytes;
        }

        private static Guid GuidOf(long n0, long n1) =>
            new((uint)(n0 & 0xffffffff), (ushort)(n0 >> 32), (ushort)(n0 >> 48), (byte)n1, (byte)(n1 >> 8), (byte)(n1 >> 16), (byte)(n1 >> 24), (byte)(n1 >> 32), (byte)(n1 >> 40), (byte)(n1 >> 48), (byte)(n1 >> 56));
    }
}

/// <summary>The silo's group-commit writers, one per shard, disposed with the silo's services.</summary>
public sealed class GroupCommitWriters(Options.GranaryStorageOptions options, string serviceId) : IAsyncDisposable
{
    private readonly Lock _gate = new();
    private Dictionary<string, GroupCommitStateWriter>? _writers;

    /// <summary>The writers created so far, by shard name.</summary>
    public IReadOnlyDictionary<string, GroupCommitStateWriter> Current
    {
        get
        {
            lock (_gate)
            {
                return _writers ?? new Dictionary<string, GroupCommitStateWriter>(StringComparer.Ordinal);
            }
        }
    }

    /// <summary>The writers for the given inner providers (created once, on first use).</summary>
    public IReadOnlyDictionary<string, GroupCommitStateWriter> For(IReadOnlyDictionary<string, IGrainStorage> shards)
    {
        ArgumentNullException.ThrowIfNull(shards);
        lock (_gate)
        {
            if (_writers is null)
            {
                var writers = new Dictionary<string, GroupCommitStateWriter>(StringComparer.Ordinal);
                for (var i = 0; i < options.Shards.Length; i++)
                {
                    var name = StorageNames.Shard(i);
                    if (shards.TryGetValue(name, out var inner) && inner is AdoNetGrainStorage provider)
                    {
                        writers[name] = new GroupCommitStateWriter(options.Shards[i], provider, name, serviceId, options.WritesInFlightPerShard, options.MaxWritesPerBatch);
                    }
                }

                _writers = writers;
            }

            return _writers;
        }
    }

    /// <inheritdoc/>
    public async ValueTask DisposeAsync()
    {
        Dictionary<string, GroupCommitStateWriter>? writers;
        lock (_gate)
        {
            writers = _writers;
            _writers = null;
        }

        foreach (var writer in writers?.Values ?? Enumerable.Empty<GroupCommitStateWriter>())
        {
            await writer.DisposeAsync().ConfigureAwait(false);
        }
    }
}
