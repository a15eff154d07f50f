using System.Diagnostics;
using System.Globalization;
using Granary.Caching;
using Granary.Client.Caching;
using Granary.Server.Caching;

namespace Granary.Cli.Scenarios.Caching;

/// <summary>
/// <c>cache-consistency</c>: a cache in front of a <c>products</c> table, updated three ways, with the
/// window in which cache and table disagree measured for each: write-through (table, then cache, in one
/// shard call), write-behind (cache now, table within the delay) and cache-aside (the application
/// writes the table, then invalidates the cache).
/// </summary>
public sealed class CacheConsistencyScenario : IScenario
{
    private const string Table = "products";
    private const int Updates = 20;
    private const int WriteBehindDelayMilliseconds = 250;

    /// <inheritdoc/>
    public string Name => "cache-consistency";

    /// <inheritdoc/>
    public string Title => "Write-through vs write-behind vs cache-aside in front of a products table: the stale windows each leaves, measured";

    /// <inheritdoc/>
    public async Task<bool> RunAsync(ScenarioContext context, CancellationToken cancellationToken)
    {
        ArgumentNullException.ThrowIfNull(context);
        var connectionString = context.Connection.Configuration["Granary:Caching:BackingConnectionString"];
        ICacheBackingStore table;
        PostgresCacheBackingStore? postgres = null;
        if (!string.IsNullOrWhiteSpace(connectionString))
        {
            table = postgres = new PostgresCacheBackingStore(connectionString);
        }
        else if (context.Connection.Embedded)
        {
            table = MemoryCacheBackingStore.Shared;
        }
        else
        {
            throw new ScenarioStoppedException("this scenario writes the products table directly (cache-aside) and needs the silos' table: set Granary:Caching:BackingConnectionString to their value (scripts/cluster.sh writes it to .local/cluster.json), or run it --embedded");
        }

        await using (postgres)
        {
            context.Fact("backingStore", table.Description, $"the table: '{Table}' in {table.Description}");
            var run = Guid.NewGuid().ToString("N")[..8];
            var name = "consistency-" + run;
            await using var writer = await CacheClient.CreateAsync(context.Grains, name, 2, new CacheSettings(BackingTable: Table, WriteBehindDelayMilliseconds: WriteBehindDelayMilliseconds));
            await using var reader = await CacheClient.ConnectAsync(context.Grains, name);
            await using var near = await CacheClient.ConnectAsync(context.Grains, name, new CacheClientOptions { NearCache = true });
            var nearStale = 0;
            var nearReads = 0;
            var nearNeverCaughtUp = 0;
            var nearWindows = new List<double>();
            async Task NearReadAsync(string key, long version)
            {
                // How long after the acknowledgement the near-cache still answers with an older version.
                nearReads++;
                var started = Stopwatch.GetTimestamp();
                var stale = false;
                long seen;
                while ((seen = (await near.ReadThroughAsync(key)).Version) < version && Stopwatch.GetElapsedTime(started) < TimeSpan.FromSeconds(5))
                {
                    stale = true;
                    await Task.Delay(1, cancellationToken); // poll interval; bounded by the 5 s deadline
                }

                nearStale += stale ? 1 : 0;
                nearNeverCaughtUp += seen < version ? 1 : 0;
                nearWindows.Add(Stopwatch.GetElapsedTime(started).TotalMilliseconds);
            }

            // Write-through: the shard writes the table (version-checked), then its copy, then answers.
            var staleAfterAck = 0;
            var tableBehind = 0;
            var clock = Stopwatch.StartNew();
            for (var v = 1; v <= Updates; v++)
            {
                await writer.WriteThroughAsync(Key(run, "wt"), Value(v), v);
                staleAfterAck += (await reader.ReadThroughAsync(Key(run, "wt"))).Version < v ? 1 : 0;
                await NearReadAsync(Key(run, "wt"), v);
                tableBehind += (await table.LoadAsync(Table, Key(run, "wt"), cancellationToken))!.Version < v ? 1 : 0;
            }

            context.Check("writeThrough", new { staleAfterAck, tableBehind }, staleAfterAck == 0 && tableBehind == 0,
                $"write-through: {Updates} updates ({clock.Elapsed.TotalMilliseconds / Updates:F1} ms each); after each acknowledgement a read from another client was stale {staleAfterAck} times, the table behind {tableBehind} times: no window (the table is written first; the cache only after it took the version)");

            // Write-behind: the cache answers at once; the table follows within the delay.
            clock.Restart();
            var keys = Enumerable.Range(0, Updates).Select(i => Key(run, "wb" + i.ToString(CultureInfo.InvariantCulture))).ToList();
            var acknowledged = await Task.WhenAll(keys.Select(async k =>
            {
                await writer.WriteBehindAsync(k, Value(1), 1);
                return clock.Elapsed;
            }));
            staleAfterAck = 0;
            foreach (var k in keys)
            {
                staleAfterAck += (await reader.ReadThroughAsync(k)).Version < 1 ? 1 : 0;
            }

            var lags = new List<double>();
            var tableMissing = 0;
            for (var i = 0; i < keys.Count; i++)
            {
                while ((await table.LoadAsync(Table, keys[i], cancellationToken))?.Version is not 1 && clock.Elapsed < TimeSpan.FromSeconds(10))
                {
                    await Task.Delay(5, cancellationToken); // poll interval; bounded by the 10 s deadline
                }

                tableMissing += (await table.LoadAsync(Table, keys[i], cancellationToken))?.Version is 1 ? 0 : 1;
                lags.Add((clock.Elapsed - acknowledged[i]).TotalMilliseconds);
            }

            context.Check("writeBehindTableLagMs", new { avg = lags.Average(), max = lags.Max(), tableMissing }, staleAfterAck == 0 && tableMissing == 0,
                $"write-behind (delay {WriteBehindDelayMilliseconds} ms): {Updates} writes acknowledged from the cache; reads after the acknowledgement stale {staleAfterAck} times; the TABLE lagged the cache by {lags.Average():F0} ms on average, {lags.Max():F0} ms at most, and had {Updates - tableMissing} of {Updates} rows 10 s after the first write (a silo lost before its flush loses those writes: docs/caching.md)");

            // Cache-aside: the application writes the table, then deletes the cached copy.
            var windows = new List<double>();
            var servedOldEveryTime = true;
            staleAfterAck = 0;
            await table.WriteAsync(Table, Key(run, "ca"), Value(0), 1, cancellationToken);
            for (var v = 2; v <= Updates + 1; v++)
            {
                _ = await reader.ReadThroughAsync(Key(run, "ca"));
                await NearReadAsync(Key(run, "ca"), v - 1);
                await table.WriteAsync(Table, Key(run, "ca"), Value(v), v, cancellationToken);
                var committed = Stopwatch.GetTimestamp();
                var servedOld = (await writer.ReadThroughAsync(Key(run, "ca"))).Version < v;
                await writer.InvalidateAsync(Key(run, "ca"));
                windows.Add(Stopwatch.GetElapsedTime(committed).TotalMilliseconds);
                staleAfterAck += (await reader.ReadThroughAsync(Key(run, "ca"))).Version < v ? 1 : 0;
                await NearReadAsync(Key(run, "ca"), v);
                servedOldEveryTime &= servedOld;
            }

            var (hits, misses, invalidations, refused) = near.NearCacheCounters;
            context.Check("cacheAsideWindowMs", new { avg = windows.Average(), max = windows.Max() }, servedOldEveryTime && staleAfterAck == 0,
                $"cache-aside: between the table commit and the invalidation the CACHE served the old value ({(servedOldEveryTime ? "seen on every update" : "NOT seen on every update")}): {windows.Average():F1} ms on average, {windows.Max():F1} ms at most; reads after the invalidation stale {staleAfterAck} times");
            context.Check("nearCacheWindowMs", new { avg = nearWindows.Average(), max = nearWindows.Max(), stale = nearStale }, nearNeverCaughtUp == 0,
                $"a client with a near-cache, reading right after each acknowledgement: {nearStale} of {nearReads} first reads were older than the write just acknowledged, until the one-way invalidation notice arrived: {nearWindows.Average():F1} ms on average, {nearWindows.Max():F1} ms at most; still old after 5 s: {nearNeverCaughtUp}; {hits} hits, {misses} misses, {invalidations} notices, {refused} fills refused because a notice overtook the read");
            var stats = await writer.GetStatisticsAsync();
            context.Fact("backingLoads", stats.BackingLoads, $"shards: {stats.BackingLoads} table loads, {stats.BackingWrites} table writes");
            return context.AllHeld;
        }
    }

    private static string Key(string run, string name) => $"product:{run}:{name}";

    private static string Value(int version) => "price " + (100 + version).ToString(CultureInfo.InvariantCulture);
}
