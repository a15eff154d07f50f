using System.Globalization;
using Granary.Caching;
using Granary.Server.Caching;
using Granary.Tests.Cluster.Infrastructure;
using Xunit.Abstractions;

namespace Granary.Tests.Cluster.Caching;

/// <summary>
/// The write-through cache's shard store on a table that starts empty and grows, as it does for every
/// new deployment: its upserts and deletes find rows through the key's index, never by scanning the
/// table, whatever the table's statistics.
/// </summary>
[Collection(ServersCollection.Name)]
public sealed class PostgresCacheShardStorePlanTests(SharedServersFixture servers, ITestOutputHelper output)
{
    private static readonly TimeSpan Deadline = TimeSpan.FromSeconds(60);

    [Fact]
    public async Task Writes_to_a_new_cache_table_never_scan_the_whole_table()
    {
        var database = "cache_plan_" + Guid.NewGuid().ToString("N")[..12];
        await servers.Postgres.CreateDatabaseAsync(database);
        var connectionString = servers.Postgres.ConnectionString(database);
        long written = 0;
        await using (var store = new PostgresCacheShardStore([connectionString], virtualNodesPerShard: 16, "granary-test"))
        {
            var epoch = (await store.OpenAsync("plan", 0, 0, CancellationToken.None)).Epoch;

            // Rounds of new keys with every live key written again, then a few earlier keys deleted.
            var live = new List<string>();
            for (var round = 0; round < 8; round++)
            {
                live.AddRange(Enumerable.Range(0, 25).Select(i => string.Create(CultureInfo.InvariantCulture, $"k{round}-{i}")));
                var upserts = live.Select(k => new CacheEntryData(k, CacheValueType.String, ["v" + round.ToString(CultureInfo.InvariantCulture)], -1)).ToList();
                var deletes = round == 0 ? [] : live.Take(5).ToList();
                await store.WriteAsync("plan", 0, epoch, clear: false, upserts, [], CancellationToken.None).WaitAsync(Deadline);
                await store.WriteAsync("plan", 0, epoch, clear: false, [], deletes, CancellationToken.None).WaitAsync(Deadline);
                live.RemoveRange(0, deletes.Count);
                written += upserts.Count + deletes.Count;
            }

            Assert.Equal(live.Count, (await store.OpenAsync("plan", 0, 0, CancellationToken.None)).Entries.Count);
        }

        // The store's connections are closed, so each server process reports its counters as it ends.
        var counters = await TableScanCounters.AfterWritesAsync(connectionString, "granary_cache_entries", written, Deadline);
        output.WriteLine($"{counters.Written} rows written, {counters.IndexScans} index scans, {counters.Scans} sequential scans reading {counters.RowsScanned} rows");

        Assert.Equal(written, counters.Written);
        Assert.True(counters.IndexScans > 0, "no index scan was counted");
        Assert.Equal(0, counters.RowsScanned);
    }
}
