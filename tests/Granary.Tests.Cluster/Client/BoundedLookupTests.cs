using System.Globalization;
using Granary.Client.Collections;

namespace Granary.Tests.Cluster.Client;

/// <summary>
/// What the typed clients keep per name (lock grain references, a queue's definition and batchers)
/// and the silo per verified assertion: bounded however many names pass through.
/// </summary>
public sealed class BoundedLookupTests
{
    [Fact]
    public void Never_holds_more_than_its_capacity_however_many_names_pass()
    {
        var lookup = new BoundedLookup<string, int>(100, StringComparer.Ordinal);
        var created = 0;
        for (var i = 0; i < 10_000; i++)
        {
            var name = i.ToString(CultureInfo.InvariantCulture);
            Assert.Equal(i, lookup.GetOrAdd(name, _ => ++created - 1));
            Assert.InRange(lookup.Count, 1, lookup.Capacity);
        }

        Assert.Equal(10_000, created);
    }

    [Fact]
    public void A_name_in_use_is_created_once_until_the_bound_empties_the_map_then_again()
    {
        var lookup = new BoundedLookup<string, object>(3, StringComparer.Ordinal);
        var first = lookup.GetOrAdd("hot", _ => new object());
        Assert.Same(first, lookup.GetOrAdd("hot", _ => new object()));
        lookup.Set("a", new object());
        lookup.Set("b", new object());
        Assert.Equal(3, lookup.Count);

        // Replacing a kept name makes no room; a fourth name empties the map first.
        lookup.Set("a", new object());
        Assert.Equal(3, lookup.Count);
        lookup.Set("c", new object());
        Assert.Equal(1, lookup.Count);
        Assert.False(lookup.TryGetValue("hot", out _));
        Assert.NotSame(first, lookup.GetOrAdd("hot", _ => new object()));
        Assert.True(lookup.Remove("c"));
        Assert.Equal(1, lookup.Count);
    }

    [Fact]
    public void Concurrent_callers_of_one_name_share_one_value_while_it_is_kept()
    {
        var lookup = new BoundedLookup<int, object>(1_000);
        var values = new object[64];
        Parallel.For(0, values.Length, i => values[i] = lookup.GetOrAdd(7, _ => new object()));
        Assert.All(values, v => Assert.Same(values[0], v));
    }
}
