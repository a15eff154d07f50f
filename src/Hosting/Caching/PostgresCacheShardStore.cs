using System.Buffers.Binary;
using System.Runtime.InteropServices;
using Granary.Caching;
using Granary.Server.Storage;
using Npgsql;
using NpgsqlTypes;

namespace Granary.Server.Caching;

/// <summary>
/// <see cref="ICacheShardStore"/> on the PostgreSQL shards: all rows of one cache live in the database
/// the storage ring picks for the cache name, in two tables of the cache family (created idempotently
/// on first use): one row per key, tagged with its owning cache shard, and one head row per cache shard
/// with its fencing epoch. A write is one round trip (an <see cref="NpgsqlBatch"/>, one implicit
/// transaction): the epoch check, then a multi-row delete and a multi-row upsert by primary key, so
/// its cost grows with the keys it changes, not with the shard's size. Opens and writes go through
/// the stores' <see cref="StorageRetryPolicy"/>: both are safe to repeat (an open bumps the epoch
/// again; a write sets rows to the same values and deletes the same keys).
/// </summary>
public sealed class PostgresCacheShardStore : ICacheShardStore, IAsyncDisposable
{
    private const string Schema = """
        CREATE TABLE IF NOT EXISTS granary_cache_shards (
            service_id text   NOT NULL,
            cache      text   NOT NULL,
            shard      integer NOT NULL,
            epoch      bigint NOT NULL,
            writes     bigint NOT NULL DEFAULT 0,
            PRIMARY KEY (service_id, cache, shard));
        CREATE TABLE IF NOT EXISTS granary_cache_entries (
            service_id text     NOT NULL,
            cache      text     NOT NULL,
            entry_key  text     NOT NULL,
            shard      integer  NOT NULL,
            entry_type smallint NOT NULL,
            items      bytea    NOT NULL,
            expires_at bigint   NOT NULL,
            PRIMARY KEY (service_id, cache, entry_key));
        CREATE INDEX IF NOT EXISTS granary_cache_entries_by_shard ON granary_cache_entries (service_id, cache, shard);
        """;

    private readonly ShardRouter _router;
    private readonly Dictionary<string, FamilyDatabase> _shards = new(StringComparer.Ordinal);
    private readonly string _serviceId;
    private readonly StorageRetryPolicy _retry;

    /// <summary>Creates the store over the shard connection strings (same order as <c>Granary:Storage:Shards</c>).</summary>
    public PostgresCacheShardStore(IReadOnlyList<string> shardConnectionStrings, int virtualNodesPerShard, string serviceId, StorageRetryPolicy? retry = null)
    {
        _retry = retry ?? StorageRetryPolicy.Default;
        ArgumentNullException.ThrowIfNull(shardConnectionStrings);
        ArgumentOutOfRangeException.ThrowIfZero(shardConnectionStrings.Count);
        _router = new ShardRouter(shardConnectionStrings.Count, virtualNodesPerShard);
        for (var i = 0; i < shardConnectionStrings.Count; i++)
        {
            // Every statement finds rows by their key or their shard's index (see StoreDataSources.KeyedStatementsOnly).
            _shards.Add(StorageNames.Shard(i), new FamilyDatabase(StoreDataSources.Create(shardConnectionStrings[i], options: StoreDataSources.KeyedStatementsOnly), Schema, _retry));
        }

        _serviceId = serviceId;
    }

    /// <inheritdoc/>
    public async Task<CacheShardSnapshot> OpenAsync(string cache, int shard, long nowUnixMilliseconds, CancellationToken cancellationToken)
    {
        var database = await DatabaseForAsync(cache, cancellationToken);
        return await _retry.ExecuteAsync("cache shard open " + cache + "/" + shard, ct => new ValueTask<CacheShardSnapshot>(OpenOnceAsync(database, cache, shard, nowUnixMilliseconds, ct)), database.Source.Clear, cancellationToken);
    }

    /// <inheritdoc/>
    public async Task WriteAsync(string cache, int shard, long epoch, bool clear, IReadOnlyList<CacheEntryData> upserts, IReadOnlyList<string> deletes, CancellationToken cancellationToken)
    {
        ArgumentNullException.ThrowIfNull(upserts);
        ArgumentNullException.ThrowIfNull(deletes);
        var database = await DatabaseForAsync(cache, cancellationToken);
        await _retry.ExecuteAsync("cache shard write " + cache, ct => new ValueTask(WriteOnceAsync(database, cache, shard, epoch, clear, upserts, deletes, ct)), database.Source.Clear, cancellationToken);
    }

    private async Task<CacheShardSnapshot> OpenOnceAsync(FamilyDatabase database, string cache, int shard, long nowUnixMilliseconds, CancellationToken cancellationToken)
    {
        await using var connection = await database.Source.OpenConnectionAsync(cancellationToken);
        long epoch;
        await using (var bump = new NpgsqlCommand(
            """
            INSERT INTO granary_cache_shards (service_id, cache, shard, epoch) VALUES (@s, @c, @n, 1)
            ON CONFLICT (service_id, cache, shard) DO UPDATE SET epoch = granary_cache_shards.epoch + 1
            RETURNING epoch
            """,
            connection))
        {
            AddKey(bump.Parameters, cache, shard);
            epoch = (long)(await bump.ExecuteScalarAsync(cancellationToken))!;
        }

        var entries = new List<CacheEntryData>();
        await using var read = new NpgsqlCommand(
            "SELECT entry_key, entry_type, items, expires_at FROM granary_cache_entries WHERE service_id = @s AND cache = @c AND shard = @n AND (expires_at < 0 OR expires_at > @now)",
            connection);
        AddKey(read.Parameters, cache, shard);
        read.Parameters.AddWithValue("now", nowUnixMilliseconds);
        await using var reader = await read.ExecuteReaderAsync(cancellationToken);
        while (await reader.ReadAsync(cancellationToken))
        {
            entries.Add(new CacheEntryData(reader.GetString(0), (CacheValueType)reader.GetInt16(1), DecodeItems((byte[])reader.GetValue(2)), reader.GetInt64(3)));
        }

        return new CacheShardSnapshot(epoch, entries);
    }

    private async Task WriteOnceAsync(FamilyDatabase database, string cache, int shard, long epoch, bool clear, IReadOnlyList<CacheEntryData> upserts, IReadOnlyList<string> deletes, CancellationToken cancellationToken)
    {
        await using var connection = await database.Source.OpenConnectionAsync(cancellationToken);

        // One round trip: the statements of a batch run in one implicit transaction, and the fence
        // divides by zero when the epoch moved on, which rolls the whole batch back.
        await using var batch = new NpgsqlBatch(connection);
        var fence = new NpgsqlBatchCommand(
            """
            WITH f AS (UPDATE granary_cache_shards SET writes = writes + 1 WHERE service_id = @s AND cache = @c AND shard = @n AND epoch = @e RETURNING 1)
            SELECT 1 / count(*) FROM f
            """);
        AddKey(fence.Parameters, cache, shard);
        fence.Parameters.AddWithValue("e", epoch);
        batch.BatchCommands.Add(fence);

        if (clear)
        {
            var wipe = new NpgsqlBatchCommand("DELETE FROM granary_cache_entries WHERE service_id = @s AND cache = @c AND shard = @n");
            AddKey(wipe.Parameters, cache, shard);
            batch.BatchCommands.Add(wipe);
        }

        if (deletes.Count > 0)
        {
            // Only rows this shard still owns: a key moved away by a reshard belongs to its new shard.
            var delete = new NpgsqlBatchCommand("DELETE FROM granary_cache_entries WHERE service_id = @s AND cache = @c AND shard = @n AND entry_key = ANY(@keys)");
            AddKey(delete.Parameters, cache, shard);
            delete.Parameters.Add(new NpgsqlParameter("keys", NpgsqlDbType.Array | NpgsqlDbType.Text) { Value = deletes.ToArray() });
            batch.BatchCommands.Add(delete);
        }

        if (upserts.Count > 0)
        {
            // unnest in the select list, not in FROM (no tuplestore allocated and freed per execution).
            var upsert = new NpgsqlBatchCommand(
                """
                INSERT INTO granary_cache_entries (service_id, cache, entry_key, shard, entry_type, items, expires_at)
                SELECT @s, @c, unnest(@keys), @n, unnest(@types), unnest(@items), unnest(@expires)
                ON CONFLICT (service_id, cache, entry_key) DO UPDATE
                SET shard = excluded.shard, entry_type = excluded.entry_type, items = excluded.items, expires_at = excluded.expires_at
                """);
            AddKey(upsert.Parameters, cache, shard);
            upsert.Parameters.Add(new NpgsqlParameter("keys", NpgsqlDbType.Array | NpgsqlDbType.Text) { Value = upserts.Select(e => e.Key).ToArray() });
            upsert.Parameters.Add(new NpgsqlParameter("types", NpgsqlDbType.Array | NpgsqlDbType.Smallint) { Value = upserts.Select(e => (short)e.Type).ToArray() });
            upsert.Parameters.Add(new NpgsqlParameter("items", NpgsqlDbType.Array | NpgsqlDbType.Bytea) { Value = upserts.Select(e => EncodeItems(e.Items)).ToArray() });
            upsert.Parameters.Add(new NpgsqlParameter("expires", NpgsqlDbType.Array | NpgsqlDbType.Bigint) { Value = upserts.Select(e => e.ExpiresAt).ToArray() });
            batch.BatchCommands.Add(upsert);
        }

        try
        {
            await batch.ExecuteNonQueryAsync(cancellationToken);
        }
        catch (PostgresException ex) when (ex.SqlState == PostgresErrorCodes.DivisionByZero)
        {
            throw new CacheShardFencedException(cache, shard, epoch);
        }
    }

    /// <inheritdoc/>
    public async ValueTask DisposeAsync()
    {
        foreach (var shard in _shards.Values)
        {
            await shard.DisposeAsync();
        }
    }

    /// <summary>
    /// Items as length-prefixed UTF-16 code units: lossless for any .NET string (PostgreSQL text
    /// cannot hold NUL, and UTF-8 would replace lone surrogates).
    /// </summary>
    internal static byte[] EncodeItems(string[] items)
    {
        var size = items.Sum(i => 4 + (i.Length * 2));
        var buffer = new byte[size];
        var offset = 0;
        foreach (var item in items)
        {
            BinaryPrimitives.WriteInt32LittleEndian(buffer.AsSpan(offset), item.Length);
            offset += 4;
            MemoryMarshal.AsBytes(item.AsSpan()).CopyTo(buffer.AsSpan(offset));
            offset += item.Length * 2;
        }

        return buffer;
    }

    /// <summary>The inverse of <see cref="EncodeItems"/>.</summary>
    internal static string[] DecodeItems(byte[] buffer)
    {
        var items = new List<string>();
        var offset = 0;
        while (offset < buffer.Length)
        {
            var length = BinaryPrimitives.ReadInt32LittleEndian(buffer.AsSpan(offset));
            offset += 4;
            items.Add(new string(MemoryMarshal.Cast<byte, char>(buffer.AsSpan(offset, length * 2))));
            offset += length * 2;
        }

        return [.. items];
    }

    private void AddKey(NpgsqlParameterCollection parameters, string cache, int shard)
    {
        parameters.AddWithValue("s", _serviceId);
        parameters.AddWithValue("c", cache);
        parameters.AddWithValue("n", shard);
    }

    private Task<FamilyDatabase> DatabaseForAsync(string cache, CancellationToken cancellationToken) =>
        _shards[_router.Ring.GetNode("cache:" + cache)].ReadyAsync(cancellationToken);
}
