using System.Globalization;
using System.Net;
using Granary.Caching;
using Granary.Server.Caching;
using Orleans.Runtime;

namespace Granary.Tests.Unit.Caching;

public sealed class SpreadShardsPlacementTests
{
    private static readonly SiloAddress[] Silos =
    [
        SiloAddress.New(new IPEndPoint(IPAddress.Loopback, 11111), 3),
        SiloAddress.New(new IPEndPoint(IPAddress.Loopback, 11112), 1),
        SiloAddress.New(new IPEndPoint(IPAddress.Loopback, 11113), 2),
    ];

    [Theory]
    [InlineData("default", 8, 3)]
    [InlineData("sessions", 8, 3)]
    [InlineData("catalogue", 16, 3)]
    [InlineData("tiny", 2, 3)]
    [InlineData("default", 8, 2)]
    [InlineData("default", 8, 1)]
    public void The_shards_of_a_cache_spread_evenly_and_consecutive_shards_land_on_different_silos(string cache, int shards, int silos)
    {
        var available = Silos[..silos];
        var placed = Enumerable.Range(0, shards).Select(i => SpreadShardsPlacementDirector.Choose(CacheDefinition.ShardKey(cache, i), available)).ToList();

        var perSilo = placed.GroupBy(s => s).Select(g => g.Count()).ToList();
        Assert.Equal(Math.Min(shards, silos), perSilo.Count);
        Assert.True(perSilo.Max() - perSilo.Min() <= 1, $"shards per silo: {string.Join(", ", perSilo)}");
        if (silos > 1)
        {
            Assert.All(Enumerable.Range(1, shards - 1), i => Assert.NotEqual(placed[i - 1], placed[i]));
        }
    }

    [Fact]
    public void The_choice_does_not_depend_on_the_order_the_silos_are_listed_in()
    {
        var reversed = Silos.Reverse().ToArray();
        for (var i = 0; i < 8; i++)
        {
            var key = CacheDefinition.ShardKey("default", i);
            Assert.Equal(SpreadShardsPlacementDirector.Choose(key, Silos), SpreadShardsPlacementDirector.Choose(key, reversed));
        }
    }

    [Fact]
    public void Different_caches_start_on_different_silos_and_other_keys_are_placed_by_their_hash()
    {
        var firsts = Enumerable.Range(0, 30)
            .Select(c => SpreadShardsPlacementDirector.Choose(CacheDefinition.ShardKey("cache-" + c.ToString(CultureInfo.InvariantCulture), 0), Silos))
            .Distinct()
            .Count();
        Assert.Equal(Silos.Length, firsts);

        foreach (var key in new[] { "no-index", "a/b", "a/-1", "/7", "a/99999999999999999999" })
        {
            var chosen = SpreadShardsPlacementDirector.Choose(key, Silos);
            Assert.Contains(chosen, Silos);
            Assert.Equal(chosen, SpreadShardsPlacementDirector.Choose(key, Silos));
        }
    }

    [Fact]
    public void No_silo_to_place_on_is_an_error()
    {
        var error = Assert.Throws<OrleansException>(() => SpreadShardsPlacementDirector.Choose("default/0", []));
        Assert.Contains("default/0", error.Message, StringComparison.Ordinal);
    }
}
