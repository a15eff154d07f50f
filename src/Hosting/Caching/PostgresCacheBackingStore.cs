using System.Collections.Concurrent;
using Granary.Caching;
using Granary.Server.Storage;
using Npgsql;

namespace Granary.Server.Caching;

/// <summary>
/// <see cref="ICacheBackingStore"/> on one PostgreSQL database: each backing table is
/// <c>(key text PRIMARY KEY, value text NULL, version bigint NOT NULL)</c>, created on first use in the
/// schema <see cref="Schema"/> (created too), so a cache can only ever name a table of its own, never a
/// system catalog or another application's table. Names are checked (<see cref="BackingTableName"/>) and
/// quoted as identifiers in every statement. A write is a single upsert whose <c>WHERE table.version &lt; excluded.version</c> makes the
/// version check and the write one atomic statement. Reads and writes go through the stores'
/// <see cref="StorageRetryPolicy"/>; a write repeated after an unseen commit finds its own version
/// stored and reports it as not applied, never writes twice.
/// </summary>
/// <example><code>
/// var store = new PostgresCacheBackingStore("Host=127.0.0.1;Port=5432;Username=postgres;Database=catalogue");
/// await store.WriteAsync("products", "sku:42", "apples", version: 7, CancellationToken.None);
/// </code></example>
public sealed class PostgresCacheBackingStore : ICacheBackingStore, IAsyncDisposable
{
    /// <summary>The schema holding every backing table.</summary>
    public const string Schema = "granary_cache";

    private static readonly NpgsqlCommandBuilder Quoting = new();
    private readonly NpgsqlDataSource _source;
    private readonly ConcurrentDictionary<string, Lazy<Task>> _tables = new(StringComparer.Ordinal);
    private readonly StorageRetryPolicy _retry;

    /// <summary>Creates the store over <paramref name="connectionString"/>.</summary>
    public PostgresCacheBackingStore(string connectionString, StorageRetryPolicy? retry = null)
    {
        _retry = retry ?? StorageRetryPolicy.Default;
        ArgumentException.ThrowIfNullOrWhiteSpace(connectionString);
        var csb = new NpgsqlConnectionStringBuilder(connectionString);
        Description = $"PostgreSQL {csb.Host}:{csb.Port}/{csb.Database}";
        _source = StoreDataSources.Create(connectionString);
    }

    /// <inheritdoc/>
    public string Description { get; }

    /// <inheritdoc/>
    public async Task<BackingRecord?> LoadAsync(string table, string key, CancellationToken cancellationToken)
    {
        var name = await EnsureTableAsync(table, cancellationToken);
        return await _retry.ExecuteAsync("backing table read " + table, ct => new ValueTask<BackingRecord?>(LoadOnceAsync(name, key, ct)), _source.Clear, cancellationToken);
    }

    /// <inheritdoc/>
    public async Task<BackingWriteResult> WriteAsync(string table, string key, string? value, long version, CancellationToken cancellationToken)
    {
        var name = await EnsureTableAsync(table, cancellationToken);
        return await _retry.ExecuteAsync("backing table write " + table, ct => new ValueTask<BackingWriteResult>(WriteOnceAsync(name, key, value, version, ct)), _source.Clear, cancellationToken);
    }

    /// <summary>The schema-qualified, quoted name of backing table <paramref name="table"/>, e.g. <c>"granary_cache"."products"</c>.</summary>
    public static string QualifiedName(string table)
    {
        BackingTableName.Require(table);
        return Quoting.QuoteIdentifier(Schema) + "." + Quoting.QuoteIdentifier(table);
    }

    private async Task<BackingRecord?> LoadOnceAsync(string table, string key, CancellationToken cancellationToken)
    {
        await using var command = _source.CreateCommand($"SELECT value, version FROM {table} WHERE key = @k");
        command.Parameters.AddWithValue("k", key);
        await using var reader = await command.ExecuteReaderAsync(cancellationToken);
        return await reader.ReadAsync(cancellationToken)
            ? new BackingRecord(reader.IsDBNull(0) ? null : reader.GetString(0), reader.GetInt64(1))
            : null;
    }

    private async Task<BackingWriteResult> WriteOnceAsync(string table, string key, string? value, long version, CancellationToken cancellationToken)
    {
        await using var command = _source.CreateCommand(
            $"""
            WITH w AS (
                INSERT INTO {table} (key, value, version) VALUES (@k, @v, @ver)
                ON CONFLICT (key) DO UPDATE SET value = excluded.value, version = excluded.version
                WHERE {table}.version < excluded.version
                RETURNING version)
            SELECT true, version FROM w
            UNION ALL
            SELECT false, version FROM {table} WHERE key = @k AND NOT EXISTS (SELECT 1 FROM w)
            """);
        command.Parameters.AddWithValue("k", key);
        command.Parameters.AddWithValue("v", (object?)value ?? DBNull.Value);
        command.Parameters.AddWithValue("ver", version);
        await using var reader = await command.ExecuteReaderAsync(cancellationToken);
        return await reader.ReadAsync(cancellationToken)
            ? new BackingWriteResult(reader.GetBoolean(0), reader.GetInt64(1))
            : new BackingWriteResult(false, 0);
    }

    /// <inheritdoc/>
    public ValueTask DisposeAsync() => _source.DisposeAsync();

    /// <summary>Checks the name, creates the table once, and returns its qualified name.</summary>
    private async Task<string> EnsureTableAsync(string table, CancellationToken cancellationToken)
    {
        var name = QualifiedName(table);

        // One creation per table for all callers, not tied to any caller's cancellation; a creation that
        // failed is forgotten, so the next call tries again instead of failing forever.
        var creation = _tables.GetOrAdd(name, n => new Lazy<Task>(() => CreateAsync(n, CancellationToken.None)));
        try
        {
            await creation.Value.WaitAsync(cancellationToken);
        }
        catch (Exception) when (creation.Value.IsFaulted || creation.Value.IsCanceled)
        {
            _tables.TryRemove(new KeyValuePair<string, Lazy<Task>>(name, creation));
            throw;
        }

        return name;
    }

    private Task CreateAsync(string qualifiedName, CancellationToken cancellationToken) =>
        FamilyDatabase.ApplyDdlAsync(
            _source,
            $"CREATE SCHEMA IF NOT EXISTS {Quoting.QuoteIdentifier(Schema)}; CREATE TABLE IF NOT EXISTS {qualifiedName} (key text PRIMARY KEY, value text NULL, version bigint NOT NULL)",
            cancellationToken);
}
