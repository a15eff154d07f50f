using Granary.Caching;
using Granary.Client.Caching;
using Granary.Client.DependencyInjection;
using Granary.Errors;
using Granary.Tests.Cluster.Infrastructure;
using Granary.Tests.Cluster.Time;
using Microsoft.Extensions.Caching.Distributed;
using Microsoft.Extensions.Caching.Hybrid;
using Microsoft.Extensions.DependencyInjection;

namespace Granary.Tests.Cluster.Adoption;

/// <summary>
/// <see cref="IDistributedCache"/>'s documented contract, run against <see cref="GranaryDistributedCache"/>
/// on the cluster whose clock the tests move (shared with the other fake-clock tests, one at a time): values round-trip byte for byte, a missing key reads as
/// null, Remove deletes, absolute and relative expirations end an entry, Get and Refresh slide a
/// sliding entry and never past its absolute expiry, an absolute expiry in the past is refused, and
/// HybridCache works on top (its second level shared by two application instances).
/// </summary>
[Collection(FakeClockClusterCollection.Name)]
public sealed class DistributedCacheContractTests(FakeClockClusterFixture fixture)
{
    private static readonly TimeSpan Minute = TimeSpan.FromMinutes(1);

    private static Microsoft.Extensions.Time.Testing.FakeTimeProvider Clock => FakeClockClusterFixture.Clock;

    private async Task<(GranaryDistributedCache Cache, CacheClient Client)> NewCacheAsync()
    {
        var client = await CacheClient.ConnectAsync(fixture.Grains, "dc-" + Guid.NewGuid().ToString("N")[..12]);
        return (new GranaryDistributedCache(client, Clock), client);
    }

    private static string? Hex(byte[]? bytes) => bytes is null ? null : Convert.ToHexString(bytes);

    [Fact]
    public async Task Values_round_trip_byte_for_byte_a_missing_key_is_null_and_remove_deletes()
    {
        var (cache, _) = await NewCacheAsync();
        var every = Enumerable.Range(0, 256).Select(i => (byte)i).ToArray();
        await cache.SetAsync("all-bytes", every, new DistributedCacheEntryOptions());
        await cache.SetAsync("empty", [], new DistributedCacheEntryOptions());
        cache.Set("sync", [1, 2, 3], new DistributedCacheEntryOptions());

        Assert.Equal(Hex(every), Hex(await cache.GetAsync("all-bytes")));
        Assert.Equal(Hex([]), Hex(await cache.GetAsync("empty")));
        Assert.Equal(Hex([1, 2, 3]), Hex(cache.Get("sync")));
        Assert.Null(await cache.GetAsync("never-set"));

        await cache.SetAsync("all-bytes", [9], new DistributedCacheEntryOptions());
        Assert.Equal(Hex([9]), Hex(await cache.GetAsync("all-bytes")));

        await cache.RemoveAsync("all-bytes");
        cache.Remove("sync");
        await cache.RemoveAsync("never-set");
        Assert.Null(await cache.GetAsync("all-bytes"));
        Assert.Null(cache.Get("sync"));
        Assert.Equal(Hex([]), Hex(await cache.GetAsync("empty")));
    }

    [Fact]
    public async Task Relative_and_absolute_expirations_end_the_entry_on_the_cache_clock()
    {
        var (cache, _) = await NewCacheAsync();
        await cache.SetAsync("relative", [1], new DistributedCacheEntryOptions { AbsoluteExpirationRelativeToNow = 10 * Minute });
        await cache.SetAsync("absolute", [2], new DistributedCacheEntryOptions { AbsoluteExpiration = Clock.GetUtcNow() + (5 * Minute) });

        Clock.Advance(4 * Minute);
        Assert.Equal(Hex([1]), Hex(await cache.GetAsync("relative")));
        Assert.Equal(Hex([2]), Hex(await cache.GetAsync("absolute")));

        Clock.Advance(2 * Minute);
        Assert.Null(await cache.GetAsync("absolute"));
        Assert.Equal(Hex([1]), Hex(await cache.GetAsync("relative")));

        Clock.Advance(5 * Minute);
        Assert.Null(await cache.GetAsync("relative"));
    }

    [Fact]
    public async Task Get_and_refresh_slide_a_sliding_entry_but_never_past_its_absolute_expiry()
    {
        var (cache, _) = await NewCacheAsync();
        var sliding = new DistributedCacheEntryOptions { SlidingExpiration = 10 * Minute };
        await cache.SetAsync("read", [1], sliding);
        await cache.SetAsync("refreshed", [2], sliding);
        await cache.SetAsync("untouched", [3], sliding);
        await cache.SetAsync("capped", [4], new DistributedCacheEntryOptions { SlidingExpiration = 10 * Minute, AbsoluteExpirationRelativeToNow = 15 * Minute });

        // Touched every 6 minutes, each entry outlives its 10-minute window; the untouched one does not.
        for (var i = 0; i < 3; i++)
        {
            Clock.Advance(6 * Minute);
            Assert.Equal(Hex([1]), Hex(await cache.GetAsync("read")));
            await cache.RefreshAsync("refreshed");
            if (i < 2)
            {
                Assert.Equal(Hex([4]), Hex(await cache.GetAsync("capped")));
            }
            else
            {
                // 18 minutes after the Set, 6 after the last read: past the 15-minute absolute expiry, within the window.
                Assert.Null(await cache.GetAsync("capped"));
            }
        }

        Assert.Null(await cache.GetAsync("untouched"));
        cache.Refresh("refreshed");
        Assert.Equal(Hex([2]), Hex(await cache.GetAsync("refreshed")));

        // Without a touch for longer than the window, both go.
        Clock.Advance(11 * Minute);
        Assert.Null(await cache.GetAsync("read"));
        Assert.Null(await cache.GetAsync("refreshed"));
        await cache.RefreshAsync("refreshed");
    }

    [Fact]
    public async Task A_refresh_of_an_entry_replaced_by_one_without_sliding_leaves_the_new_entry_its_own_expiry()
    {
        var (cache, client) = await NewCacheAsync();
        await cache.SetAsync("k", [1], new DistributedCacheEntryOptions { SlidingExpiration = 10 * Minute });
        await cache.SetAsync("k", [2], new DistributedCacheEntryOptions { AbsoluteExpirationRelativeToNow = 2 * Minute });
        await cache.RefreshAsync("k");
        Assert.InRange((await client.ExecuteAsync(["PTTL", "k"])).Integer, 1, (long)(2 * Minute).TotalMilliseconds);

        await cache.SetAsync("k", [3], new DistributedCacheEntryOptions());
        Assert.Equal(-1, (await client.ExecuteAsync(["PTTL", "k"])).Integer);
        Clock.Advance(30 * Minute);
        Assert.Equal(Hex([3]), Hex(await cache.GetAsync("k")));
    }

    [Fact]
    public async Task A_refresh_that_read_settings_a_concurrent_set_replaced_applies_the_new_settings()
    {
        var (cache, client) = await NewCacheAsync();
        var staleWindow = (long)(10 * Minute).TotalMilliseconds;

        // Refresh read "sliding 10 minutes"; before it extended the entry, a Set replaced it with a 2-minute absolute expiry.
        await cache.SetAsync("k", [2], new DistributedCacheEntryOptions { AbsoluteExpirationRelativeToNow = 2 * Minute });
        await cache.SlideAsync("k", -1, staleWindow);
        Assert.InRange((await client.ExecuteAsync(["PTTL", "k"])).Integer, 1, (long)(2 * Minute).TotalMilliseconds);

        // ... or with no expiry at all: it keeps none.
        await cache.SetAsync("k", [3], new DistributedCacheEntryOptions());
        await cache.SlideAsync("k", -1, staleWindow);
        Assert.Equal(-1, (await client.ExecuteAsync(["PTTL", "k"])).Integer);

        // ... or with a shorter window: the entry gets that window.
        await cache.SetAsync("k", [4], new DistributedCacheEntryOptions { SlidingExpiration = Minute });
        await cache.SlideAsync("k", -1, staleWindow);
        Assert.InRange((await client.ExecuteAsync(["PTTL", "k"])).Integer, 1, (long)Minute.TotalMilliseconds);
        Clock.Advance(2 * Minute);
        Assert.Null(await cache.GetAsync("k"));
    }

    [Fact]
    public async Task Bad_options_and_too_large_values_are_refused_and_change_nothing()
    {
        var (cache, _) = await NewCacheAsync();
        await cache.SetAsync("k", [1], new DistributedCacheEntryOptions());

        await Assert.ThrowsAsync<ArgumentOutOfRangeException>(() => cache.SetAsync("k", [2], new DistributedCacheEntryOptions { AbsoluteExpiration = Clock.GetUtcNow() - TimeSpan.FromSeconds(1) }));
        Assert.Throws<ArgumentOutOfRangeException>(() => new DistributedCacheEntryOptions { SlidingExpiration = TimeSpan.Zero });
        Assert.Throws<ArgumentOutOfRangeException>(() => new DistributedCacheEntryOptions { AbsoluteExpirationRelativeToNow = TimeSpan.FromSeconds(-1) });
        await Assert.ThrowsAsync<ArgumentNullException>(() => cache.SetAsync("k", null!, new DistributedCacheEntryOptions()));
        await Assert.ThrowsAsync<ArgumentNullException>(() => cache.GetAsync(null!));

        var tooLarge = await Assert.ThrowsAsync<InvalidRequestException>(() => cache.SetAsync("k", new byte[GranaryDistributedCache.MaxValueBytes + 1], new DistributedCacheEntryOptions()));
        Assert.Equal(ErrorCodes.InvalidArgument, tooLarge.Code);
        Assert.Equal(Hex([1]), Hex(await cache.GetAsync("k")));

        var largest = Enumerable.Range(0, GranaryDistributedCache.MaxValueBytes).Select(i => (byte)(i * 31)).ToArray();
        await cache.SetAsync("k", largest, new DistributedCacheEntryOptions());
        Assert.Equal(Hex(largest), Hex(await cache.GetAsync("k")));
    }

    [Fact]
    public async Task Any_string_is_a_key_and_distinct_keys_never_meet()
    {
        var (cache, _) = await NewCacheAsync();
        string[] keys = ["", " ", new string('x', 300), new string('x', 301), "nul\0in", "lone\uD800", "sha256:" + new string('0', 64), "plain"];
        for (var i = 0; i < keys.Length; i++)
        {
            await cache.SetAsync(keys[i], [(byte)i], new DistributedCacheEntryOptions());
        }

        for (var i = 0; i < keys.Length; i++)
        {
            Assert.Equal(Hex([(byte)i]), Hex(await cache.GetAsync(keys[i])));
        }
    }

    [Fact]
    public async Task HybridCache_shares_its_second_level_between_two_app_instances_and_honours_remove_and_tags()
    {
        var cacheName = "hybrid-" + Guid.NewGuid().ToString("N")[..12];
        var calls = 0;
        ValueTask<string> Factory(CancellationToken _) => ValueTask.FromResult("made-" + Interlocked.Increment(ref calls));
        HybridCache Instance() => App(cacheName).GetRequiredService<HybridCache>();

        var first = Instance();
        var second = Instance();
        Assert.Equal("made-1", await first.GetOrCreateAsync("sku:1", Factory, tags: ["catalogue"]));

        // HybridCache writes its second level after it returns the value it made.
        var shared = await CacheClient.ConnectAsync(fixture.Grains, cacheName);
        await Eventually.TrueAsync("HybridCache wrote the entry to Granary", async () => (await shared.ExecuteAsync(["DBSIZE"])).Integer > 0, TimeSpan.FromSeconds(10));
        Assert.Equal("made-1", await second.GetOrCreateAsync("sku:1", Factory));
        Assert.Equal(1, calls);

        // Removing through one instance removes the shared entry: a new instance (empty first level) makes it again.
        Clock.Advance(TimeSpan.FromSeconds(1));
        await first.RemoveAsync("sku:1");
        Assert.Equal("made-2", await Instance().GetOrCreateAsync("sku:1", Factory, tags: ["catalogue"]));
        await Eventually.TrueAsync("HybridCache wrote the new entry to Granary", async () => (await shared.ExecuteAsync(["DBSIZE"])).Integer == 1, TimeSpan.FromSeconds(10));

        // A tag invalidation is stored in the second level (written in the background too): another new
        // instance does not serve the tagged entry.
        Clock.Advance(TimeSpan.FromSeconds(1));
        await first.RemoveByTagAsync("catalogue");
        await Eventually.TrueAsync("HybridCache wrote the tag invalidation to Granary", async () => (await shared.ExecuteAsync(["DBSIZE"])).Integer == 2, TimeSpan.FromSeconds(10));
        Clock.Advance(TimeSpan.FromSeconds(1));

        // A new instance learns of the tag's invalidation when it reads the tag from the second level. HybridCache
        // 10.0 starts that read beside the entry's read, and when the entry arrives first it checks the tag against
        // its own clock instead of the entry's creation time (dotnet/extensions#7771): that first read can serve the
        // invalidated entry and keep it in the first level. Once the tag has arrived, a read from the second level
        // does not serve it. So one new instance is asked, past its first level, until it makes the entry again
        // (each answer is the old or the new value).
        var fresh = Instance();
        var pastFirstLevel = new HybridCacheEntryOptions { Flags = HybridCacheEntryFlags.DisableLocalCacheRead };
        string answer;
        try
        {
            answer = await Eventually.ValueAsync(
                "a new HybridCache instance does not serve the entry its tag invalidated",
                async () => await fresh.GetOrCreateAsync("sku:1", Factory, pastFirstLevel, tags: ["catalogue"]),
                value => value != "made-2",
                TimeSpan.FromSeconds(10));
        }
        catch (TimeoutException ex)
        {
            // What the second level held then: each key with its remaining time, and the test's clock.
            var keys = await shared.ExecuteAsync(["KEYS", "*"]);
            var held = new List<string>();
            foreach (var key in keys.Items ?? [])
            {
                held.Add($"{key.Text} (pttl {(await shared.ExecuteAsync(["PTTL", key.Text!])).Integer} ms)");
            }

            throw new TimeoutException($"{ex.Message}; second level: [{string.Join(", ", held)}]; clock {Clock.GetUtcNow():O}; factory calls {calls}", ex);
        }

        Assert.Equal("made-3", answer);
        Assert.Equal(3, calls);
    }

    /// <summary>One application instance: its own services, HybridCache over Granary's <see cref="IDistributedCache"/>.</summary>
    private ServiceProvider App(string cacheName)
    {
        var services = new ServiceCollection();
        services.AddSingleton(fixture.Grains);
        services.AddSingleton<TimeProvider>(Clock);
        services.AddGranaryDistributedCache(o => o.CacheName = cacheName);
        services.AddHybridCache();
        var provider = services.BuildServiceProvider();
        Assert.IsType<GranaryDistributedCache>(provider.GetRequiredService<IDistributedCache>());
        return provider;
    }
}
