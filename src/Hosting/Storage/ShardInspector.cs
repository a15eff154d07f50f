using Npgsql;

namespace Granary.Server.Storage;

/// <summary>Rows of one state name on one shard: how many, their payload bytes in all, and the largest payload.</summary>
public sealed record ShardStateCount(string StateName, long Rows, long Bytes = 0, long LargestBytes = 0);

/// <summary>What one shard holds.</summary>
public sealed record ShardReport(string Shard, string Database, string Host, int Port, long Rows, IReadOnlyList<ShardStateCount> ByState, string? Error);

/// <summary>Reads row counts from the shard databases directly (no silo needed).</summary>
public static class ShardInspector
{
    /// <summary>Name of the grain state table the schema (Sql/PostgreSQL-GrainStorage.sql) creates.</summary>
    public const string StateTable = "granary_grain_state";

    /// <summary>Counts stored grain states per shard and per state name for <paramref name="serviceId"/>.</summary>
    public static async Task<IReadOnlyList<ShardReport>> CountAsync(IReadOnlyList<string> shards, string serviceId, CancellationToken cancellationToken)
    {
        ArgumentNullException.ThrowIfNull(shards);
        var reports = new List<ShardReport>(shards.Count);
        for (var i = 0; i < shards.Count; i++)
        {
            var csb = new NpgsqlConnectionStringBuilder(shards[i]);
            try
            {
                await using var connection = new NpgsqlConnection(shards[i]);
                await connection.OpenAsync(cancellationToken);
                await using var command = new NpgsqlCommand(
                    $"SELECT grain_type, count(*), coalesce(sum(octet_length(payload)), 0)::bigint, coalesce(max(octet_length(payload)), 0)::bigint FROM {StateTable} WHERE service_id = @service AND payload IS NOT NULL GROUP BY grain_type ORDER BY grain_type",
                    connection);
                command.Parameters.AddWithValue("service", serviceId);
                var byState = new List<ShardStateCount>();
                await using (var reader = await command.ExecuteReaderAsync(cancellationToken))
                {
                    while (await reader.ReadAsync(cancellationToken))
                    {
                        byState.Add(new ShardStateCount(reader.GetString(0), reader.GetInt64(1), reader.GetInt64(2), reader.GetInt64(3)));
                    }
                }

                reports.Add(new ShardReport(StorageNames.Shard(i), csb.Database ?? "?", csb.Host ?? "?", csb.Port, byState.Sum(s => s.Rows), byState, null));
            }
            catch (Exception ex) when (ex is NpgsqlException or PostgresException or InvalidOperationException or System.Net.Sockets.SocketException)
            {
                reports.Add(new ShardReport(StorageNames.Shard(i), csb.Database ?? "?", csb.Host ?? "?", csb.Port, 0, [], ex.Message));
            }
        }

        return reports;
    }
}
