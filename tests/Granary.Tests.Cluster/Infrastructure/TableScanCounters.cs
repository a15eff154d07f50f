using Npgsql;

namespace Granary.Tests.Cluster.Infrastructure;

/// <summary>A PostgreSQL table's activity counters (<c>pg_stat_user_tables</c>).</summary>
/// <param name="Written">Rows inserted, updated and deleted.</param>
/// <param name="Scans">Sequential scans started.</param>
/// <param name="RowsScanned">Rows read by sequential scans.</param>
/// <param name="IndexScans">Index scans started.</param>
public sealed record TableScanCounters(long Written, long Scans, long RowsScanned, long IndexScans)
{
    /// <summary>
    /// The counters of <paramref name="table"/> once they show at least <paramref name="writes"/> rows
    /// written. A server process reports its counters when it goes idle or ends (close the writer's
    /// connections first for a prompt answer), so they are polled until then, up to <paramref name="deadline"/>.
    /// </summary>
    public static async Task<TableScanCounters> AfterWritesAsync(string connectionString, string table, long writes, TimeSpan deadline)
    {
        await using var source = NpgsqlDataSource.Create(connectionString);
        return await Eventually.ValueAsync(
            $"the counters of {table} to show {writes} rows written",
            async () =>
            {
                await using var command = source.CreateCommand(
                    "SELECT n_tup_ins + n_tup_upd + n_tup_del, seq_scan, seq_tup_read, COALESCE(idx_scan, 0) FROM pg_stat_user_tables WHERE relname = $1");
                command.Parameters.Add(new NpgsqlParameter { Value = table });
                await using var reader = await command.ExecuteReaderAsync();
                return await reader.ReadAsync()
                    ? new TableScanCounters(reader.GetInt64(0), reader.GetInt64(1), reader.GetInt64(2), reader.GetInt64(3))
                    : new TableScanCounters(0, 0, 0, 0);
            },
            c => c.Written >= writes,
            deadline);
    }
}
