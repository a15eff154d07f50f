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
    /// <summary>A data source over <paramref name="connectionString"/> with the stores' settings.</summary>
    /// <param name="connectionString">The server and database.</param>
    /// <param name="maxAutoPrepare">How many statements to keep prepared per connection.</param>
    /// <param name="options">Server settings for every connection (<c>-c name=value</c>), if any.</param>
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
            csb.Options = options;
        }

        return NpgsqlDataSource.Create(csb.ConnectionString);
    }
}
