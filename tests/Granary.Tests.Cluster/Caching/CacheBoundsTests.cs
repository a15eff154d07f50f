using System.Globalization;
using Granary.Caching;
using Granary.Client.Caching;
using Granary.Errors;
using Granary.Server.Caching;
using Granary.Tests.Cluster.Infrastructure;
using Orleans.TestingHost;
using Xunit.Abstractions;

namespace Granary.Tests.Cluster.Caching;

/// <summary>
/// Three in-process silos with a small memory ceiling (1 MiB per shard) and a short read-through TTL
/// (300 ms), so that bounds and expiry show within a test; backing tables are the in-memory store.
/// </summary>
public sealed class CacheBoundsClusterFixture : GranaryTestClusterFixture
{
    /// <summary>The silos' <c>Granary:Caching:MemoryCeilingBytesPerShard</c>.</summary>
    public const long Ceiling = 1024 * 1024;

    /// <summary>The silos' <c>Granary:Caching:ReadThroughTtl</c>.</summary>
    public static readonly TimeSpan ReadThroughTtl = TimeSpan.FromMilliseconds(300);

    /// <inheritdoc/>
    protected override Task ConfigureAsync(TestClusterBuilder builder)
    {
        ArgumentNullException.ThrowIfNull(builder);
        builder.Properties["Granary:Storage:Mode"] = "Memory";
        builder.Properties["Granary:Caching:MemoryCeilingBytesPerShard"] = Ceiling.ToString(CultureInfo.InvariantCulture);
        builder.Properties["Granary:Caching:MaxMemoryBytesPerShard"] = (Ceiling / 2).ToString(CultureInfo.InvariantCulture);
        builder.Properties["Granary:Caching:ReadThroughTtl"] = ReadThroughTtl.ToString("c", CultureInfo.InvariantCulture);
        return Task.CompletedTask;
    }
}

/// <summary>
/// A cache is never unbounded (its memory bound is at most the silo's configured ceiling, checked at
/// start-up, at creation and by the console), and what a shard remembers per backed key (its backing
/// version) goes when the key goes: expired, evicted or deleted.
/// </summary>
public sealed class CacheBoundsTests(CacheBoundsClusterFixture cluster, ITestOutputHelper output) : IClassFixture<CacheBoundsClusterFixture>
{
    private static string NewCache() => "bounds-" + Guid.NewGuid().ToString("N");

    [Fact]
    public void The_silo_refuses_to_start_with_an_unbounded_or_over_ceiling_memory_bound()
    {
        var validator = new CacheShardOptionsValidator();
        var unbounded = validator.Validate(null, new CacheShardOptions { MaxMemoryBytesPerShard = 0 });
        var over = validator.Validate(null, new CacheShardOptions { MaxMemoryBytesPerShard = 2048, MemoryCeilingBytesPerShard = 1024 });
        var noCeiling = validator.Validate(null, new CacheShardOptions { MemoryCeilingBytesPerShard = 0 });

        Assert.Contains("Granary:Caching:MaxMemoryBytesPerShard must be between 1 and MemoryCeilingBytesPerShard", unbounded.FailureMessage, StringComparison.Ordinal);
        Assert.Contains("(got 2048)", over.FailureMessage, StringComparison.Ordinal);
        Assert.Contains("Granary:Caching:MemoryCeilingBytesPerShard must be between 1 and", noCeiling.FailureMessage, StringComparison.Ordinal);
        Assert.True(validator.Validate(null, new CacheShardOptions()).Succeeded);
    }

    [Fact]
    public void A_stored_bound_of_0_or_above_the_ceiling_is_applied_as_the_ceiling()
    {
        var options = new CacheShardOptions { MaxMemoryBytesPerShard = 100, MemoryCeilingBytesPerShard = 1000 };

        Assert.Equal(100, options.EffectiveMaxMemoryBytes(null));
        Assert.Equal(500, options.EffectiveMaxMemoryBytes(500));
        Assert.Equal(1000, options.EffectiveMaxMemoryBytes(0));
        Assert.Equal(1000, options.EffectiveMaxMemoryBytes(5000));
        Assert.Equal(100, options.ToKeyspaceOptions().MaxMemoryBytes);
    }

    [Theory]
    [InlineData(0L)]
    [InlineData(-1L)]
    [InlineData(CacheBoundsClusterFixture.Ceiling + 1)]
    public async Task Creating_a_cache_without_a_bound_under_the_ceiling_is_refused_and_creates_nothing(long bytes)
    {
        var name = NewCache();
        var definition = cluster.Grains.GetGrain<ICacheDefinitionGrain>(name);

        var refused = await Assert.ThrowsAsync<InvalidRequestException>(() => definition.CreateAsync(2, new CacheSettings(MaxMemoryBytesPerShard: bytes)));
        output.WriteLine($"--max-memory {bytes}: {refused.Code}: {refused.Message}");

        Assert.Equal(ErrorCodes.InvalidArgument, refused.Code);
        Assert.Contains(nameof(CacheSettings.MaxMemoryBytesPerShard), refused.Message, StringComparison.Ordinal);
        Assert.Null(await definition.PeekAsync());
    }

    [Theory]
    [InlineData("pg_class")]
    [InlineData("Products")]
    [InlineData("products;drop")]
    public async Task Creating_a_cache_over_a_catalog_or_malformed_backing_table_is_refused(string table)
    {
        var definition = cluster.Grains.GetGrain<ICacheDefinitionGrain>(NewCache());

        var refused = await Assert.ThrowsAsync<InvalidRequestException>(() => definition.CreateAsync(2, new CacheSettings(BackingTable: table)));
        output.WriteLine($"--backing-table {table}: {refused.Code}: {refused.Message}");

        Assert.Contains(nameof(CacheSettings.BackingTable), refused.Message, StringComparison.Ordinal);
        Assert.Null(await definition.PeekAsync());
    }

    [Fact]
    public async Task A_cache_at_the_ceiling_is_created_and_its_shards_apply_it()
    {
        await using var cache = await CacheClient.CreateAsync(cluster.Grains, NewCache(), 2, new CacheSettings(MaxMemoryBytesPerShard: CacheBoundsClusterFixture.Ceiling));
        await cache.SetAsync("k", "v");

        Assert.All(await cache.GetShardStatisticsAsync(), s => Assert.Equal(CacheBoundsClusterFixture.Ceiling, s.MaxMemoryBytes));
    }

    [Theory]
    [InlineData("0")]
    [InlineData("-5")]
    public async Task The_console_refuses_max_memory_that_is_not_positive_with_exit_code_2(string bytes)
    {
        // Refused while parsing, before any connection: run where no cluster is configured.
        var directory = Directory.CreateTempSubdirectory("granary-maxmemory-");
        try
        {
            var result = await ChildProcess.RunAsync(
                "dotnet",
                [RepositoryPaths.ConsoleAssembly, "cache", "create", "c1", "--max-memory", bytes],
                TimeSpan.FromMinutes(2),
                CancellationToken.None,
                workingDirectory: directory.FullName);
            output.WriteLine($"granary cache create c1 --max-memory {bytes}: exit {result.ExitCode}: {result.Output.Trim()}");

            Assert.Equal(2, result.ExitCode);
            Assert.Contains("--max-memory must be positive", result.Output, StringComparison.Ordinal);
        }
        finally
        {
            directory.Delete(recursive: true);
        }
    }

    [Fact]
    public async Task Backing_versions_level_off_under_churn_of_expiring_evicted_and_deleted_keys()
    {
        const int Rounds = 8;
        const int KeysPerRound = 200;
        await using var cache = await CacheClient.CreateAsync(cluster.Grains, NewCache(), 2, new CacheSettings(BackingTable: "churn"));

        // Expiry: each round writes new keys through the table; they expire after the read-through TTL.
        var remembered = new List<long>();
        for (var round = 0; round < Rounds; round++)
        {
            var prefix = "r" + round.ToString(CultureInfo.InvariantCulture) + ":";
            var writes = await Task.WhenAll(Enumerable.Range(0, KeysPerRound).Select(i => cache.WriteThroughAsync(prefix + i.ToString(CultureInfo.InvariantCulture), "v", 1)));
            Assert.All(writes, w => Assert.Equal(BackedOutcome.Stored, w.Outcome));
            var live = await cache.GetStatisticsAsync();
            Assert.True(live.BackingVersions > 0, "the written keys' versions are remembered while they are cached");

            // Active expiry runs every 100 ms: the keys are reclaimed well within the wait's 10 s.
            var expired = await Eventually.ValueAsync("the expiring keys reclaimed", () => cache.GetStatisticsAsync(), s => s.Keys == 0, TimeSpan.FromSeconds(10));
            remembered.Add(expired.BackingVersions);
        }

        output.WriteLine($"backing versions remembered after each of {Rounds} rounds of {KeysPerRound} expiring keys: {string.Join(", ", remembered)}");
        Assert.All(remembered, count => Assert.Equal(0, count));

        // Eviction: far more data than the shards' bound (512 KiB each) holds.
        var value = new string('x', 1000);
        foreach (var chunk in Enumerable.Range(0, 3000).Chunk(100))
        {
            await Task.WhenAll(chunk.Select(i => cache.WriteThroughAsync("big:" + i.ToString(CultureInfo.InvariantCulture), value, 1)));
        }

        var evicted = await cache.GetStatisticsAsync();
        output.WriteLine($"after 3000 writes of 1 KB through a cache bounded at 2 x {evicted.MaxMemoryBytes / 2} bytes: {evicted.Keys} keys cached, {evicted.Evictions} evicted, {evicted.Expirations} expired, {evicted.BackingVersions} versions remembered");
        Assert.True(evicted.Evictions + evicted.Expirations > 0, "some keys left the cache");
        Assert.True(evicted.BackingVersions <= evicted.Keys, $"{evicted.BackingVersions} versions for {evicted.Keys} cached keys");

        // Delete through the table: the tombstone is in the table, the shard keeps nothing for the key.
        var deletes = Enumerable.Range(0, KeysPerRound).Select(i => "gone:" + i.ToString(CultureInfo.InvariantCulture)).ToList();
        foreach (var key in deletes)
        {
            await cache.WriteThroughAsync(key, "v", 1);
        }

        await Task.WhenAll(deletes.Select(key => cache.WriteThroughAsync(key, null, 2)));
        var deleted = await cache.GetStatisticsAsync();
        output.WriteLine($"after writing and deleting {KeysPerRound} more keys through the table: {deleted.Keys} keys cached, {deleted.BackingVersions} versions remembered");
        Assert.True(deleted.BackingVersions <= deleted.Keys, $"{deleted.BackingVersions} versions for {deleted.Keys} cached keys");
        Assert.Equal(new BackedWrite(BackedOutcome.OlderVersion, 2), await cache.WriteThroughAsync(deletes[0], "late", 1));
    }

    [Fact]
    public async Task A_shard_serves_at_most_the_limit_of_near_caches_and_refuses_more_with_a_typed_error()
    {
        var shard = cluster.Grains.GetGrain<ICacheShardGrain>(CacheDefinition.ShardKey(NewCache(), 0));
        var observers = Enumerable.Range(0, Limits.Caching.MaxSubscribersPerShard + 1).Select(_ => new SilentObserver()).ToList();
        var references = observers.Select(o => cluster.Grains.CreateObjectReference<ICacheInvalidationObserver>(o)).ToList();
        try
        {
            foreach (var chunk in references.Take(Limits.Caching.MaxSubscribersPerShard).Chunk(500))
            {
                await Task.WhenAll(chunk.Select(shard.SubscribeAsync));
            }

            var refused = await Assert.ThrowsAsync<GranaryException>(() => shard.SubscribeAsync(references[^1]));
            output.WriteLine($"subscription {references.Count}: {refused.Code}: {refused.Message}");

            Assert.Equal(ErrorCodes.ResourceExhausted, refused.Code);
            await shard.SubscribeAsync(references[0]); // a renewal is not a new subscription
            await shard.UnsubscribeAsync(references[0]);
            await shard.SubscribeAsync(references[^1]);
        }
        finally
        {
            foreach (var reference in references)
            {
                cluster.Grains.DeleteObjectReference<ICacheInvalidationObserver>(reference);
            }

            GC.KeepAlive(observers); // observer references are weak: the objects must outlive the test
        }
    }

    private sealed class SilentObserver : ICacheInvalidationObserver
    {
        public Task InvalidatedAsync(CacheInvalidation notice) => Task.CompletedTask;
    }
}
