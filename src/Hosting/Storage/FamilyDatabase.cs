using Npgsql;

namespace Granary.Server.Storage;

/// <summary>
/// A PostgreSQL shard database in which a family keeps tables of its own: the data source, and the
/// family's idempotent schema applied once, on first use (through <paramref name="retry"/>, by
/// default <see cref="StorageRetryPolicy.Default"/>, so a dropped connection does not fail it).
/// </summary>
internal sealed class FamilyDatabase(NpgsqlDataSource source, string schema, StorageRetryPolicy? retry = null) : IAsyncDisposable
{
    private readonly SemaphoreSlim _gate = new(1, 1);
    private volatile bool _ready;

    /// <summary>The data source (pooled connections to this database).</summary>
    public NpgsqlDataSource Source { get; } = source;

    /// <summary>The retry policy of the store that owns this database.</summary>
    public StorageRetryPolicy Retry { get; } = retry ?? StorageRetryPolicy.Default;

    /// <summary>Applies the schema if this process has not yet done so; returns this database.</summary>
    public async Task<FamilyDatabase> ReadyAsync(CancellationToken cancellationToken)
    {
        if (!_ready)
        {
            await _gate.WaitAsync(cancellationToken);
            try
            {
                if (!_ready)
                {
                    await Retry.ExecuteAsync("family schema in database " + new NpgsqlConnectionStringBuilder(Source.ConnectionString).Database, ct => new ValueTask(ApplyDdlAsync(Source, schema, ct)), Source.Clear, cancellationToken);
                    _ready = true;
                }
            }
            finally
            {
                _gate.Release();
            }
        }

        return this;
    }

    /// <summary>
    /// Runs idempotent DDL (<c>CREATE ... IF NOT EXISTS</c>), retrying when another silo created the
    /// same object at the same moment (IF NOT EXISTS is not atomic).
    /// </summary>
    public static async Task ApplyDdlAsync(NpgsqlDataSource source, string ddl, CancellationToken cancellationToken)
    {
        ArgumentNullException.ThrowIfNull(source);
        for (var attempt = 1; ; attempt++)
        {
            try
            {
                await using var command = source.CreateCommand(ddl);
                await command.ExecuteNonQueryAsync(cancellationToken);
                return;
            }
            catch (PostgresException ex) when (attempt < 3 && ex.SqlState is PostgresErrorCodes.UniqueViolation or PostgresErrorCodes.DuplicateTable or PostgresErrorCodes.DuplicateObject)
            {
                // Lost the race: the next attempt finds the objects there.
            }
        }
    }

    /// <inheritdoc/>
    public ValueTask DisposeAsync() => Source.DisposeAsync();
}

