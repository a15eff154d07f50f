using System.Reflection;
using Granary.Server.Diagnostics;
using Granary.Server.Options;
using Microsoft.Extensions.Logging;
using Microsoft.Extensions.Options;
using Npgsql;

namespace Granary.Server.Storage;

/// <summary>
/// Creates missing shard databases and applies the grain-storage schema to each shard before the
/// storage providers start. The script is idempotent, so every silo runs it on every start, and each
/// shard's work goes through the stores' <see cref="StorageRetryPolicy"/>: a silo started while
/// PostgreSQL drops connections or restarts waits and tries again instead of exiting.
/// </summary>
public sealed class PostgresShardInitializer : ILifecycleParticipant<ISiloLifecycle>
{
    /// <summary>Embedded resource name of the schema script.</summary>
    public const string SchemaResource = "Granary.Server.Storage.Sql.PostgreSQL-GrainStorage.sql";

    private readonly GranaryStorageOptions _options;
    private readonly ILogger<PostgresShardInitializer> _logger;
    private readonly StorageRetryPolicy _retry;

    /// <summary>Created by DI.</summary>
    public PostgresShardInitializer(IOptions<GranaryStorageOptions> options, ILogger<PostgresShardInitializer> logger, StorageRetryPolicy retry)
    {
        ArgumentNullException.ThrowIfNull(options);
        _options = options.Value;
        _logger = logger;
        _retry = retry;
    }

    /// <inheritdoc/>
    public void Participate(ISiloLifecycle lifecycle)
    {
        ArgumentNullException.ThrowIfNull(lifecycle);
        // Before ApplicationServices, where the AdoNet providers read their queries.
        lifecycle.Subscribe(nameof(PostgresShardInitializer), ServiceLifecycleStage.RuntimeInitialize, InitializeAsync);
    }

    /// <summary>Ensures every configured shard exists and has the schema.</summary>
    public Task InitializeAsync(CancellationToken cancellationToken) =>
        EnsureShardsAsync(_options.Shards, _options.CreateDatabases, _logger, _retry, cancellationToken);

    /// <summary>Ensures each database exists (when allowed) and applies the schema script to it, with the default retry policy.</summary>
    public static Task EnsureShardsAsync(IReadOnlyList<string> connectionStrings, bool createDatabases, ILogger logger, CancellationToken cancellationToken) =>
        EnsureShardsAsync(connectionStrings, createDatabases, logger, StorageRetryPolicy.Default, cancellationToken);

    /// <summary>
    /// Ensures each database exists (when allowed) and applies the schema script to it, retrying
    /// transient failures with <paramref name="retry"/>.
    /// </summary>
    public static async Task EnsureShardsAsync(
        IReadOnlyList<string> connectionStrings,
        bool createDatabases,
        ILogger logger,
        StorageRetryPolicy retry,
        CancellationToken cancellationToken)
    {
        ArgumentNullException.ThrowIfNull(connectionStrings);
        ArgumentNullException.ThrowIfNull(retry);
        var script = LoadSchemaScript();
        for (var i = 0; i < connectionStrings.Count; i++)
        {
            var started = System.Diagnostics.Stopwatch.GetTimestamp();
            var connectionString = connectionStrings[i];
            var database = await retry.ExecuteAsync(
                "schema of " + StorageNames.Shard(i),
                async ct =>
                {
                    if (createDatabases)
                    {
                        await CreateDatabaseIfMissingAsync(connectionString, ct);
                    }

                    await using var connection = new NpgsqlConnection(connectionString);
                    await connection.OpenAsync(ct);
                    await using var command = new NpgsqlCommand(script, connection);
                    await command.ExecuteNonQueryAsync(ct);
                    return connection.Database;
                },
                StorageRetryPolicy.ClearPoolOf(connectionString),
                cancellationToken);
            HostingLog.ShardSchemaApplied(logger, StorageNames.Shard(i), database, System.Diagnostics.Stopwatch.GetElapsedTime(started).TotalMilliseconds);
        }
    }

    /// <summary>The schema script shipped inside this assembly.</summary>
    public static string LoadSchemaScript()
    {
        using var stream = typeof(PostgresShardInitializer).Assembly.GetManifestResourceStream(SchemaResource)
            ?? throw new InvalidOperationException($"Embedded resource {SchemaResource} is missing from {typeof(PostgresShardInitializer).Assembly.GetName().Name}.");
        using var reader = new StreamReader(stream);
        return reader.ReadToEnd();
    }

    private static async Task CreateDatabaseIfMissingAsync(string connectionString, CancellationToken cancellationToken)
    {
        var target = new NpgsqlConnectionStringBuilder(connectionString);
        var database = target.Database ?? throw new InvalidOperationException("A shard connection string names no Database.");
        var admin = new NpgsqlConnectionStringBuilder(connectionString) { Database = "postgres", Pooling = false };
        await using var connection = new NpgsqlConnection(admin.ConnectionString);
        await connection.OpenAsync(cancellationToken);
        await using (var exists = new NpgsqlCommand("SELECT 1 FROM pg_database WHERE datname = @name", connection))
        {
            exists.Parameters.AddWithValue("name", database);
            if (await exists.ExecuteScalarAsync(cancellationToken) is not null)
            {
                return;
            }
        }

        try
        {
            // Identifiers cannot be parameters; quote it so any name is safe.
            var quoted = "\"" + database.Replace("\"", "\"\"", StringComparison.Ordinal) + "\"";
            await using var create = new NpgsqlCommand("CREATE DATABASE " + quoted, connection);
            await create.ExecuteNonQueryAsync(cancellationToken);
        }
        catch (PostgresException ex) when (ex.SqlState is PostgresErrorCodes.DuplicateDatabase or PostgresErrorCodes.UniqueViolation)
        {
            // Another silo created it first.
        }
    }
}
