using Npgsql;

namespace Granary.Server.Storage;

/// <summary>What a rebalance did.</summary>
public sealed record RebalanceReport(long RowsScanned, long RowsMoved, IReadOnlyDictionary<string, long> MovedTo)
{
    /// <summary>Fraction of rows that changed shard.</summary>
    public double MovedFraction => RowsScanned == 0 ? 0 : (double)RowsMoved / RowsScanned;
}

/// <summary>
/// Moves grain state rows whose ring owner changed after shards were appended to the list. Only
/// rows whose owner changed are touched. Each row is copied to its new shard before
/// it is deleted from the old one, so a crash mid-way leaves at worst an unreachable duplicate
/// that a re-run removes. Run it while no silo uses the new shard list yet (see README).
/// </summary>
public static class ShardRebalancer
{
    private const string Columns = "grain_id_hash, grain_id_n0, grain_id_n1, grain_type_hash, grain_type, grain_id_extension, service_id, payload, modified_on, version";

    /// <summary>Moves every row that is not on the shard the ring over <paramref name="shards"/> assigns it.</summary>
    public static async Task<RebalanceReport> RebalanceAsync(
        IReadOnlyList<string> shards,
        int virtualNodesPerShard,
        string serviceId,
        CancellationToken cancellationToken)
    {
        ArgumentNullException.ThrowIfNull(shards);
        ArgumentOutOfRangeException.ThrowIfZero(shards.Count);
        var newRouter = new ShardRouter(shards.Count, virtualNodesPerShard);
        long scanned = 0, moved = 0;
        var movedTo = new Dictionary<string, long>(StringComparer.Ordinal);

        for (var source = 0; source < shards.Count; source++)
        {
            await using var from = new NpgsqlConnection(shards[source]);
            await from.OpenAsync(cancellationToken);
            var rows = new List<object[]>();
            await using (var select = new NpgsqlCommand($"SELECT {Columns} FROM {ShardInspector.StateTable} WHERE service_id = @service", from))
            {
                select.Parameters.AddWithValue("service", serviceId);
                await using var reader = await select.ExecuteReaderAsync(cancellationToken);
                while (await reader.ReadAsync(cancellationToken))
                {
                    var values = new object[reader.FieldCount];
                    reader.GetValues(values);
                    rows.Add(values);
                }
            }

            foreach (var row in rows)
            {
                var key = new ShardKey((long)row[1], (long)row[2], row[5] as string);
                var owner = newRouter.ShardFor(key);
                var here = StorageNames.Shard(source);
                scanned++;
                if (string.Equals(owner, here, StringComparison.Ordinal))
                {
                    continue;
                }

                var target = int.Parse(owner.AsSpan("shard-".Length), System.Globalization.CultureInfo.InvariantCulture);
                await CopyRowAsync(shards[target], row, cancellationToken);
                await DeleteRowAsync(from, row, cancellationToken);
                moved++;
                movedTo[owner] = movedTo.GetValueOrDefault(owner) + 1;
            }
        }

        return new RebalanceReport(scanned, moved, movedTo);
    }

    private static async Task CopyRowAsync(string connectionString, object[] row, CancellationToken cancellationToken)
    {
        await using var to = new NpgsqlConnection(connectionString);
        await to.OpenAsync(cancellationToken);
        await using var tx = await to.BeginTransactionAsync(cancellationToken);
        await DeleteRowAsync(to, row, cancellationToken, tx);
        await using (var insert = new NpgsqlCommand(
            $"INSERT INTO {ShardInspector.StateTable} ({Columns}) VALUES (@p0, @p1, @p2, @p3, @p4, @p5, @p6, @p7, @p8, @p9)", to, tx))
        {
            for (var i = 0; i < row.Length; i++)
            {
                insert.Parameters.AddWithValue("p" + i.ToString(System.Globalization.CultureInfo.InvariantCulture), row[i]);
            }

            await insert.ExecuteNonQueryAsync(cancellationToken);
        }

        await tx.CommitAsync(cancellationToken);
    }

    private static async Task DeleteRowAsync(NpgsqlConnection connection, object[] row, CancellationToken cancellationToken, NpgsqlTransaction? tx = null)
    {
        await using var delete = new NpgsqlCommand(
            $"DELETE FROM {ShardInspector.StateTable} WHERE grain_id_hash = @h AND grain_type_hash = @t AND grain_id_n0 = @n0 AND grain_id_n1 = @n1 " +
            "AND grain_type = @ts AND service_id = @s AND grain_id_extension IS NOT DISTINCT FROM @ext",
            connection,
            tx);
        delete.Parameters.AddWithValue("h", row[0]);
        delete.Parameters.AddWithValue("n0", row[1]);
        delete.Parameters.AddWithValue("n1", row[2]);
        delete.Parameters.AddWithValue("t", row[3]);
        delete.Parameters.AddWithValue("ts", row[4]);
        delete.Parameters.AddWithValue("ext", row[5]);
        delete.Parameters.AddWithValue("s", row[6]);
        await delete.ExecuteNonQueryAsync(cancellationToken);
    }
}
