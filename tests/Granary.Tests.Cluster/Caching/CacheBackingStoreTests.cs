using System.Diagnostics;
using System.Globalization;
using Granary.Caching;
using Granary.Client.Caching;
using Granary.Server.Caching;
using Granary.Tests.Cluster.Infrastructure;
using Npgsql;
using Orleans.TestingHost;
using Xunit.Abstractions;

namespace Granary.Tests.Cluster.Caching;

/// <summary>Three in-process silos whose caches front a <c>products</c> table in a real PostgreSQL database.</summary>
public sealed class BackedCacheClusterFixture(SharedServersFixture servers) : GranaryTestClusterFixture
{
    /// <summary>The backing database's connection string.</summary>
    public string Database { get; private set; } = "";

    /// <inheritdoc/>
    protected override async Task ConfigureAsync(TestClusterBuilder builder)
    {
        ArgumentNullException.ThrowIfNull(builder);
        var name = "cachebacking_" + Guid.NewGuid().ToString("N")[..8];
        await servers.Postgres.CreateDatabaseAsync(name);
        Database = servers.Postgres.ConnectionString(name);
        builder.Properties["Granary:Storage:Mode"] = "Memory";
        builder.Properties["Granary:Caching:BackingConnectionString"] = Database;
    }
}

/// <summary>
/// Consistency with a backing PostgreSQL table: cluster-wide single-flight read-through, version-checked
/// write-through, write-behind within its delay and on deactivation, cache-aside invalidation, and
/// near-caches that never serve a value older than an invalidation they received.
/// </summary>
[Collection(ServersCollection.Name)]
public sealed class CacheBackingStoreTests(SharedServersFixture servers, ITestOutputHelper output) : IAsyncLifetime
{
    private const string Table = "products";

    // The table as the silos' backing store names it (in its own schema), for the test's own SQL.
    private static readonly string QualifiedTable = PostgresCacheBackingStore.QualifiedName(Table);
    private static readonly string CreateTable =
        $"CREATE SCHEMA IF NOT EXISTS {PostgresCacheBackingStore.Schema}; CREATE TABLE IF NOT EXISTS {QualifiedTable} (key text PRIMARY KEY, value text NULL, version bigint NOT NULL); ";
    private readonly BackedCacheClusterFixture _cluster = new(servers);

    public Task InitializeAsync() => _cluster.InitializeAsync();

    public Task DisposeAsync() => _cluster.DisposeAsync();

    [Fact]
    public async Task Hundred_concurrent_misses_from_ten_clients_cause_one_backing_load()
    {
        var name = NewCache();
        await using var first = await CacheClient.CreateAsync(_cluster.Grains, name, 4, new CacheSettings(BackingTable: Table));
        await first.WriteThroughAsync("sku:warmup", "table exists", 1);
        await UpsertAsync("sku:1", "apples", 3);

        var clients = new List<CacheClient> { first };
        for (var i = 1; i < 10; i++)
        {
            clients.Add(await CacheClient.ConnectAsync(_cluster.Grains, name));
        }

        var reads = await Task.WhenAll(clients.SelectMany(c => Enumerable.Range(0, 10).Select(_ => c.ReadThroughAsync("sku:1"))));
        var stats = await first.GetStatisticsAsync();
        output.WriteLine($"100 concurrent misses from 10 clients: {stats.BackingLoads} backing load; {reads.Count(r => r.LoadedFromStore)} answers came from that load, {reads.Count(r => !r.LoadedFromStore)} from the cache after it");
        Assert.All(reads, r => Assert.Equal(("apples", 3L), (r.Value, r.Version)));
        Assert.Equal(1, stats.BackingLoads);
        var absent = await first.ReadThroughAsync("sku:none");
        Assert.Null(absent.Value);
        Assert.Equal(CacheReply.Int(0), await first.ExecuteAsync(["EXISTS", "sku:none"]));
        foreach (var client in clients)
        {
            await client.DisposeAsync();
        }
    }

    [Fact]
    public async Task Version_checked_writes_refuse_an_older_version_in_table_and_cache()
    {
        await using var cache = await CacheClient.CreateAsync(_cluster.Grains, NewCache(), 2, new CacheSettings(BackingTable: Table));
        Assert.Equal(BackedOutcome.Stored, (await cache.WriteThroughAsync("sku:2", "pears v2", 2)).Outcome);
        var older = await cache.WriteThroughAsync("sku:2", "pears v1", 1);
        Assert.Equal(new BackedWrite(BackedOutcome.OlderVersion, 2), older);
        Assert.Equal(new BackedWrite(BackedOutcome.OlderVersion, 2), await cache.WriteBehindAsync("sku:2", "pears v1 behind", 1));
        Assert.Equal(("pears v2", 2L), await RowAsync("sku:2"));
        Assert.Equal("pears v2", (await cache.ReadThroughAsync("sku:2")).Value);

        // A table row newer than the cache (written by someone else): a refused older write drops the cached copy.
        await UpsertAsync("sku:2", "pears v5", 5);
        Assert.Equal(new BackedWrite(BackedOutcome.OlderVersion, 5), await cache.WriteThroughAsync("sku:2", "pears v3", 3));
        Assert.Equal(("pears v5", 5L), ((await cache.ReadThroughAsync("sku:2")).Value, (await cache.ReadThroughAsync("sku:2")).Version));
        output.WriteLine("v2 stored; v1 refused by write-through and write-behind (current 2); v3 refused against an outside v5, and the cache then reads v5");
    }

    [Fact]
    public async Task Write_behind_reaches_the_table_within_its_delay_and_on_deactivation()
    {
        await using var quick = await CacheClient.CreateAsync(_cluster.Grains, NewCache(), 2, new CacheSettings(BackingTable: Table, WriteBehindDelayMilliseconds: 300));
        var clock = Stopwatch.StartNew();
        Assert.Equal(BackedOutcome.Stored, (await quick.WriteBehindAsync("sku:3", "plums", 1)).Outcome);
        var acknowledged = clock.Elapsed;
        Assert.Equal("plums", (await quick.ReadThroughAsync("sku:3")).Value);
        var landed = await PollRowAsync("sku:3", 1, TimeSpan.FromSeconds(10));
        output.WriteLine($"write-behind (delay 300 ms): acknowledged after {acknowledged.TotalMilliseconds:F0} ms, in the table after {landed.TotalMilliseconds:F0} ms");
        Assert.True(landed < TimeSpan.FromSeconds(3), $"took {landed}");

        var name = NewCache();
        await using var slow = await CacheClient.CreateAsync(_cluster.Grains, name, 1, new CacheSettings(BackingTable: Table, WriteBehindDelayMilliseconds: 600_000));
        Assert.Equal(BackedOutcome.Stored, (await slow.WriteBehindAsync("sku:4", "figs", 7)).Outcome);
        Assert.Null(await RowAsync("sku:4"));
        clock.Restart();
        await _cluster.SiloGrains.GetGrain<ICacheShardGrain>(CacheDefinition.ShardKey(name, 0)).DeactivateAsync();
        var flushed = await PollRowAsync("sku:4", 7, TimeSpan.FromSeconds(10));
        output.WriteLine($"write-behind (delay 10 min): not in the table before; in it {flushed.TotalMilliseconds:F0} ms after the shard was told to deactivate");
        Assert.True(flushed < TimeSpan.FromSeconds(5), $"took {flushed}");
    }

    [Fact]
    public async Task Cache_aside_invalidation_and_near_caches_never_serve_older_than_an_invalidation()
    {
        var name = NewCache();
        await using var writer = await CacheClient.CreateAsync(_cluster.Grains, name, 2, new CacheSettings(BackingTable: Table));
        await using var reader = await CacheClient.ConnectAsync(_cluster.Grains, name, new CacheClientOptions { NearCache = true, NearCacheTtl = TimeSpan.FromMinutes(5) });

        // Cache-aside: the application updates the table, then invalidates.
        await writer.WriteThroughAsync("sku:5", "kiwis v1", 1);
        Assert.Equal("kiwis v1", (await reader.ReadThroughAsync("sku:5")).Value);

        // The write's own notice may reach the reader after its first read and drop that fill;
        // a later read fills the near-cache and the one after it is served from there.
        await Eventually.TrueAsync("a read served by the near-cache", async () =>
        {
            Assert.Equal("kiwis v1", (await reader.ReadThroughAsync("sku:5")).Value);
            return reader.NearCacheCounters.Hits >= 1;
        }, TimeSpan.FromSeconds(10));
        await UpsertAsync("sku:5", "kiwis v2", 2);
        Assert.True(await writer.InvalidateAsync("sku:5"));
        await PollAsync(() => reader.NewestInvalidatedVersion("sku:5") >= 0 && reader.NearCacheCounters.Invalidations >= 2, TimeSpan.FromSeconds(10));
        Assert.Equal("kiwis v2", (await reader.ReadThroughAsync("sku:5")).Value);

        // Under load: each read returns a version at least as new as every invalidation received before it.
        var violations = 0;
        var reads = 0;
        using var stop = new CancellationTokenSource();
        var readLoop = Task.Run(async () =>
        {
            while (!stop.IsCancellationRequested)
            {
                var floor = reader.NewestInvalidatedVersion("sku:5");
                var read = await reader.ReadThroughAsync("sku:5");
                reads++;
                if (read.Version < floor)
                {
                    violations++;
                }

                await Task.Delay(1); // the behaviour under test: a reader running alongside the writes, at about a thousand reads a second
            }
        });
        for (var version = 3; version <= 300; version++)
        {
            var written = version % 2 == 0
                ? await writer.WriteThroughAsync("sku:5", "kiwis v" + version.ToString(CultureInfo.InvariantCulture), version)
                : await writer.WriteBehindAsync("sku:5", "kiwis v" + version.ToString(CultureInfo.InvariantCulture), version);
            Assert.Equal(BackedOutcome.Stored, written.Outcome);
        }

        await PollAsync(() => reader.NewestInvalidatedVersion("sku:5") == 300, TimeSpan.FromSeconds(10));
        await stop.CancelAsync();
        await readLoop;
        var last = await reader.ReadThroughAsync("sku:5");
        var (hits, misses, invalidations, refused) = reader.NearCacheCounters;
        output.WriteLine($"near-cache under 298 writes: {reads} reads ({hits} near hits, {misses} misses), {invalidations} invalidations received, {refused} fills refused (read overtaken by an invalidation), violations={violations}; final read v{last.Version}");
        Assert.Equal(0, violations);
        Assert.Equal(300, last.Version);
        Assert.True(invalidations >= 298, $"{invalidations} invalidations");
    }

    private static string NewCache() => "backed-" + Guid.NewGuid().ToString("N");

    private static Task PollAsync(Func<bool> condition, TimeSpan bound) => Eventually.TrueAsync("the reader's invalidations", condition, bound);

    private async Task<TimeSpan> PollRowAsync(string key, long version, TimeSpan bound)
    {
        var clock = Stopwatch.StartNew();
        await Eventually.TrueAsync($"{key} v{version} in the table", async () => await RowAsync(key) is { } row && row.Version >= version, bound);
        return clock.Elapsed;
    }

    private async Task UpsertAsync(string key, string value, long version)
    {
        await using var connection = new NpgsqlConnection(_cluster.Database);
        await connection.OpenAsync();
        await using var command = new NpgsqlCommand(
            CreateTable +
            $"INSERT INTO {QualifiedTable} (key, value, version) VALUES (@k, @v, @n) ON CONFLICT (key) DO UPDATE SET value = excluded.value, version = excluded.version",
            connection);
        command.Parameters.AddWithValue("k", key);
        command.Parameters.AddWithValue("v", value);
        command.Parameters.AddWithValue("n", version);
        await command.ExecuteNonQueryAsync();
    }

    private async Task<(string? Value, long Version)?> RowAsync(string key)
    {
        await using var connection = new NpgsqlConnection(_cluster.Database);
        await connection.OpenAsync();
        await using var command = new NpgsqlCommand(CreateTable + $"SELECT value, version FROM {QualifiedTable} WHERE key = @k", connection);
        command.Parameters.AddWithValue("k", key);
        await using var reader = await command.ExecuteReaderAsync();
        return await reader.ReadAsync() ? (reader.IsDBNull(0) ? null : reader.GetString(0), reader.GetInt64(1)) : null;
    }
}
