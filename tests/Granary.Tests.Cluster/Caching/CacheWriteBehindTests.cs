using System.Diagnostics;
using System.Globalization;
using Granary.Caching;
using Granary.Client.Caching;
using Granary.Errors;
using Granary.Tests.Cluster.Infrastructure;
using Xunit.Abstractions;

namespace Granary.Tests.Cluster.Caching;

/// <summary>
/// Write-behind and write-through against stores that fail on demand: rows survive any exception
/// and are retried with growing waits, the queue is bounded, deactivation drains or reports, and a
/// failed group commit fails its batch without stopping the shard.
/// </summary>
public sealed class CacheWriteBehindTests(FaultyStoresClusterFixture fixture, ITestOutputHelper output) : IClassFixture<FaultyStoresClusterFixture>, IDisposable
{
    private static readonly TimeSpan Deadline = TimeSpan.FromSeconds(20);
    private CounterByTag? _dropped;

    private CacheStoreFaults Faults => fixture.Faults;

    public void Dispose()
    {
        Faults.Heal();
        _dropped?.Dispose();
    }

    [Fact]
    public async Task A_row_whose_table_write_throws_OutOfMemoryException_stays_queued_and_is_written()
    {
        var (name, cache) = await CreateAsync("t_oom", delayMilliseconds: 50);
        await using var _ = cache;
        Faults.FailBackingWrites("t_oom", 1, () => new OutOfMemoryException("injected by the test"));
        Assert.Equal(BackedOutcome.Stored, (await cache.WriteBehindAsync("k", "v1", 1)).Outcome);

        var row = await WaitForRowAsync("t_oom", "k", 1);
        var stats = await cache.GetStatisticsAsync();
        output.WriteLine($"{name}: the first table write threw OutOfMemoryException; the row reached the table after {Faults.BackingAttempts("t_oom").Count} attempts ({stats.WriteBehindFailedWrites} failed), pending now {stats.WriteBehindPending}");
        Assert.Equal(new BackingRecord("v1", 1), row);
        Assert.Equal(1, stats.WriteBehindFailedWrites);
        Assert.Equal(0, stats.WriteBehindPending);
    }

    [Fact]
    public async Task A_failing_table_is_retried_with_growing_waits_until_it_takes_the_row()
    {
        const int Delay = 50;
        var (name, cache) = await CreateAsync("t_backoff", delayMilliseconds: Delay);
        await using var _ = cache;
        Faults.FailBackingWrites("t_backoff", int.MaxValue, () => new IOException("table unreachable (injected)"));
        Assert.Equal(BackedOutcome.Stored, (await cache.WriteBehindAsync("k", "v1", 1)).Outcome);

        // The waits after failed flushes are 50, 100, 200, 400 ms...: the 5th attempt comes at least
        // 750 ms after the first (retrying every delay, it came 200 ms after).
        await WaitUntilAsync(() => Faults.BackingAttempts("t_backoff").Count >= 5, "5 attempts to write the row");
        var attempts = Faults.BackingAttempts("t_backoff");
        var gaps = attempts.Zip(attempts.Skip(1), (a, b) => (b - a).TotalMilliseconds).Take(4).ToList();
        output.WriteLine($"{name}: gaps between the first attempts while the table failed: {string.Join(", ", gaps.Select(g => g.ToString("F0", CultureInfo.InvariantCulture)))} ms");
        Assert.True((attempts[4] - attempts[0]).TotalMilliseconds >= 0.9 * (Delay + (2 * Delay) + (4 * Delay) + (8 * Delay)), $"attempts came too fast: {string.Join(", ", gaps)} ms apart");

        Faults.Heal();
        Assert.Equal(new BackingRecord("v1", 1), await WaitForRowAsync("t_backoff", "k", 1));
        Assert.Equal(0, (await cache.GetStatisticsAsync()).WriteBehindPending);
    }

    [Fact]
    public async Task A_full_queue_refuses_writes_with_RESOURCE_EXHAUSTED_and_changes_nothing()
    {
        var (name, cache) = await CreateAsync("t_full", delayMilliseconds: 50);
        await using var _ = cache;
        Faults.FailBackingWrites("t_full", int.MaxValue, () => new IOException("table unreachable (injected)"));
        for (var i = 0; i < FaultyStoresClusterFixture.MaxPendingRows; i++)
        {
            Assert.Equal(BackedOutcome.Stored, (await cache.WriteBehindAsync(Key(i), "v", 1)).Outcome);
        }

        var refused = await Assert.ThrowsAsync<GranaryException>(() => cache.WriteBehindAsync("one-too-many", "v", 1));
        output.WriteLine($"{name}: write {FaultyStoresClusterFixture.MaxPendingRows + 1} refused: {refused.Code}: {refused.Message}");
        Assert.Equal(ErrorCodes.ResourceExhausted, refused.Code);
        Assert.Null(await cache.GetAsync("one-too-many"));

        // A newer version of a queued key replaces its row: still within the bound.
        Assert.Equal(BackedOutcome.Stored, (await cache.WriteBehindAsync(Key(0), "v2", 2)).Outcome);
        var stats = await cache.GetStatisticsAsync();
        Assert.Equal(FaultyStoresClusterFixture.MaxPendingRows, stats.WriteBehindPending);
        Assert.Equal(1, stats.WriteBehindRefused);

        Faults.Heal();
        Assert.Equal(new BackingRecord("v2", 2), await WaitForRowAsync("t_full", Key(0), 2));
        for (var i = 1; i < FaultyStoresClusterFixture.MaxPendingRows; i++)
        {
            Assert.Equal(new BackingRecord("v", 1), await WaitForRowAsync("t_full", Key(i), 1));
        }

        await WaitUntilAsync(async () => (await cache.GetStatisticsAsync()).WriteBehindPending == 0, "the queue to empty");
        Assert.Equal(BackedOutcome.Stored, (await cache.WriteBehindAsync("one-too-many", "v", 1)).Outcome);
    }

    [Fact]
    public async Task Deactivation_writes_rows_the_table_refused_a_few_times()
    {
        ListenForDrops();
        var (name, cache) = await CreateAsync("t_drain", delayMilliseconds: 600_000);
        await using var _ = cache;
        Assert.Equal(BackedOutcome.Stored, (await cache.WriteBehindAsync("k", "v1", 1)).Outcome);
        Faults.FailBackingWrites("t_drain", 2, () => new IOException("table unreachable (injected)"));
        await fixture.SiloGrains.GetGrain<ICacheShardGrain>(CacheDefinition.ShardKey(name, 0)).DeactivateAsync();

        Assert.Equal(new BackingRecord("v1", 1), await WaitForRowAsync("t_drain", "k", 1));
        output.WriteLine($"{name}: the deactivating shard wrote its row after {Faults.BackingAttempts("t_drain").Count} attempts (the first two failed)");
        Assert.Equal(0, _dropped!.For(name));
    }

    [Fact]
    public async Task Deactivation_reports_rows_the_table_never_took_as_dropped()
    {
        ListenForDrops();
        var (name, cache) = await CreateAsync("t_dropped", delayMilliseconds: 600_000);
        await using var _ = cache;
        for (var i = 0; i < 3; i++)
        {
            Assert.Equal(BackedOutcome.Stored, (await cache.WriteBehindAsync(Key(i), "v", 1)).Outcome);
        }

        Faults.FailBackingWrites("t_dropped", int.MaxValue, () => new IOException("table unreachable (injected)"));
        var clock = Stopwatch.StartNew();
        await fixture.SiloGrains.GetGrain<ICacheShardGrain>(CacheDefinition.ShardKey(name, 0)).DeactivateAsync();
        await WaitUntilAsync(() => _dropped!.For(name) >= 3, "granary.caching.write_behind.dropped to count the 3 rows");
        output.WriteLine($"{name}: deactivation with the table down: {_dropped!.For(name)} rows reported dropped after {clock.Elapsed.TotalMilliseconds:F0} ms and {Faults.BackingAttempts("t_dropped").Count} attempts");
        Assert.Equal(3, _dropped!.For(name));
        Assert.Null(await Faults.Backing.LoadAsync("t_dropped", Key(0), CancellationToken.None));
    }

    [Fact]
    public async Task A_group_commit_that_throws_OutOfMemoryException_fails_its_batch_and_the_shard_keeps_working()
    {
        var name = "wt-" + Guid.NewGuid().ToString("N");
        await using var cache = await CacheClient.CreateAsync(fixture.Grains, name, 1, new CacheSettings(CachePersistence.WriteThrough));
        Assert.Equal(CacheReply.Ok, await cache.ExecuteAsync(["SET", "before", "1"]));
        Faults.FailShardWrites(1, () => new OutOfMemoryException("injected by the test"));
        var failed = await Assert.ThrowsAsync<ServiceUnavailableException>(() => cache.ExecuteAsync(["SET", "lost", "1"]));
        output.WriteLine($"{name}: the SET whose storage write threw got {failed.Code}: {failed.Message}");

        // The shard reloads from storage; writes succeed again and the unconfirmed one is not there.
        var clock = Stopwatch.StartNew();
        var reply = await Eventually.ValueAsync("a SET accepted after the reload", () => cache.ExecuteAsync(["SET", "after", "1"]), r => !(r.IsError && r.Text!.StartsWith("TRYAGAIN", StringComparison.Ordinal)), Deadline);

        output.WriteLine($"{name}: the next SET succeeded {clock.Elapsed.TotalMilliseconds:F0} ms later: {reply}");
        Assert.Equal(CacheReply.Ok, reply);
        Assert.Equal("1", await cache.GetAsync("before"));
        Assert.Null(await cache.GetAsync("lost"));
    }

    private static string Key(int i) => "k" + i.ToString(CultureInfo.InvariantCulture);

    private void ListenForDrops() => _dropped = new CounterByTag(CacheMetrics.MeterName, "granary.caching.write_behind.dropped", "cache");

    private async Task<(string Name, CacheClient Cache)> CreateAsync(string table, int delayMilliseconds)
    {
        var name = "behind-" + Guid.NewGuid().ToString("N");
        var cache = await CacheClient.CreateAsync(fixture.Grains, name, 1, new CacheSettings(BackingTable: table, WriteBehindDelayMilliseconds: delayMilliseconds));
        return (name, cache);
    }

    private async Task<BackingRecord> WaitForRowAsync(string table, string key, long version)
    {
        BackingRecord? row = null;
        await WaitUntilAsync(async () => (row = await Faults.Backing.LoadAsync(table, key, CancellationToken.None))?.Version >= version, $"row {key} v{version} in table {table}");
        return row!;
    }

    private static Task WaitUntilAsync(Func<bool> condition, string what) => Eventually.TrueAsync(what, condition, Deadline);

    private static Task WaitUntilAsync(Func<Task<bool>> condition, string what) => Eventually.TrueAsync(what, condition, Deadline);
}
