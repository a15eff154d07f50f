using Npgsql;

namespace Granary.Server.Storage;

/// <summary>
/// The Npgsql data sources of Granary's own PostgreSQL stores (grain-state writer, queue and cache
/// stores), tuned alike: auto-prepare (the same few statements run on every flush) and no reset on
/// close (these connections never change session state, so the reset statements Npgsql would
/// send before each reuse of a pooled connection are pure overhead: they had doubled the
/// transactions per queue message).
/// </summary>
internal static class StoreDataSources
{
    /// <summary>
    /// Server settings for a store whose every statement reads by a key: no sequential scans. Such a
    /// table starts empty and grows (or churns) faster than autovacuum analyses it (each database is
    /// visited about once a minute), and a prepared statement keeps the plan made when the table was
    /// small: a hash join over a scan of the whole table, run again for every write. Measured on a
    /// fresh grain-state table under the transfer benchmark: about one statement in five scanned the
    /// whole table until its first autovacuum, 60-80 s in, doubling PostgreSQL's CPU per transfer.
    /// With this setting the planner takes the key's index whatever the statistics say.
    /// </summary>
    public const string KeyedStatementsOnly = "-c enable_seqscan=off";

    /// <summary>A data source over <paramref name="connectionString"/> with the stores' settings.</summary>
    /// <param name="connectionString">The server and database.</param>
    /// <param name="maxAutoPrepare">How many statements to keep prepared per connection.</param>
    /// <param name="options">Server settings for every connection (<c>-c name=value</c>), if any, added to the connection string's own <c>Options</c>.</param>
    public static NpgsqlDataSource Create(string connectionString, int maxAutoPrepare = 16, string? options = null)
    {
        var csb = new NpgsqlConnectionStringBuilder(connectionString)
        {
            MaxAutoPrepare = maxAutoPrepare,
            AutoPrepareMinUsages = 2,
            NoResetOnClose = true,
        };
        if (options is not null)
        {
            // After the connection string's own settings, if it has any: they are kept.
            csb.Options = string.IsNullOrWhiteSpace(csb.Options) ? options : csb.Options + " " + options;
        }

        return NpgsqlDataSource.Create(csb.ConnectionString);
    }
}
