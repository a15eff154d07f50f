using System.Diagnostics;
using System.Globalization;
using Granary.Cli.Cli;
using Npgsql;

namespace Granary.Bench;

/// <summary>
/// Runs <c>CHECKPOINT</c> on the PostgreSQL servers a comparison writes to, before each measured
/// run. PostgreSQL writes the pages a workload dirtied some time later (the checkpointer spreads a
/// checkpoint over minutes, and WAL volume starts the next): without this, the writes of one
/// system's window land in the next system's window, on whichever system comes second. After a
/// checkpoint every window starts from a server with nothing left to write. Needs a superuser or
/// the <c>pg_checkpoint</c> role; when refused, the run goes on and says so.
/// </summary>
public static class PostgresCheckpoint
{
    /// <summary>Longest a checkpoint may take before the run goes on without it.</summary>
    public static readonly TimeSpan Timeout = TimeSpan.FromMinutes(2);

    /// <summary>
    /// One connection string per distinct server (host and port) among <paramref name="connectionStrings"/>,
    /// the first seen for each.
    /// </summary>
    public static IReadOnlyList<string> Servers(IEnumerable<string> connectionStrings)
    {
        ArgumentNullException.ThrowIfNull(connectionStrings);
        return connectionStrings
            .Select(s => (ConnectionString: s, Builder: new NpgsqlConnectionStringBuilder(s)))
            .DistinctBy(s => (Host: (s.Builder.Host ?? "localhost").ToUpperInvariant(), s.Builder.Port))
            .Select(s => s.ConnectionString)
            .ToList();
    }

    /// <summary>Checkpoints every server in turn; returns one line saying what was done or refused.</summary>
    public static async Task<string> RunAsync(IReadOnlyList<string> servers, CancellationToken cancellationToken)
    {
        ArgumentNullException.ThrowIfNull(servers);
        var done = new List<string>();
        foreach (var server in servers)
        {
            var builder = new NpgsqlConnectionStringBuilder(server);
            var name = string.Create(CultureInfo.InvariantCulture, $"postgres:{builder.Port}");
            var started = Stopwatch.StartNew();
            try
            {
                await using var connection = new NpgsqlConnection(server);
                await connection.OpenAsync(cancellationToken);
                await using var command = new NpgsqlCommand("CHECKPOINT", connection) { CommandTimeout = (int)Timeout.TotalSeconds };
                await command.ExecuteNonQueryAsync(cancellationToken);
                done.Add(string.Create(CultureInfo.InvariantCulture, $"{name} {started.Elapsed.TotalSeconds:F2} s"));
            }
            catch (Exception ex) when (ex is NpgsqlException or TimeoutException or InvalidOperationException)
            {
                done.Add($"{name} not checkpointed ({(ex is PostgresException pg ? pg.SqlState + ": " + pg.MessageText : ex.GetType().Name + ": " + ex.Message)})");
            }
        }

        return "checkpoint: " + string.Join(", ", done);
    }
}
