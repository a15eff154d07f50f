using Granary.Collections;

namespace Granary.Tests.Unit.Collections;

public sealed class SparseTrimTests
{
    [Fact]
    public void A_dictionary_emptied_below_an_eighth_is_rebuilt_at_its_size_and_keeps_its_entries()
    {
        var table = Enumerable.Range(0, 10_000).ToDictionary(i => i, i => i * 2);
        var peak = table.Capacity;
        for (var i = 0; i < 10_000; i++)
        {
            if (i % 10 != 0)
            {
                table.Remove(i);
            }
        }

        Assert.Equal(1_000, table.Count);
        Assert.Equal(peak, table.Capacity);
        Assert.True(SparseTrim.TrimIfSparse(table));
        Assert.True(table.Capacity < peak / 8, $"{table.Capacity} slots after the trim, {peak} before");
        Assert.All(Enumerable.Range(0, 1_000), n => Assert.Equal(n * 20, table[n * 10]));
    }

    [Fact]
    public void A_dictionary_an_eighth_full_or_more_is_left_alone()
    {
        var table = Enumerable.Range(0, 8_000).ToDictionary(i => i, i => i);
        var peak = table.Capacity;
        foreach (var key in Enumerable.Range(0, 8_000).Where(i => i >= (peak / 8) + 1).ToList())
        {
            table.Remove(key);
        }

        Assert.False(SparseTrim.TrimIfSparse(table));
        Assert.Equal(peak, table.Capacity);
    }

    [Fact]
    public void Small_tables_are_never_trimmed()
    {
        var table = new Dictionary<string, int>(SparseTrim.MinimumCapacity / 2);
        var small = table.Capacity;
        Assert.True(small < SparseTrim.MinimumCapacity);
        Assert.False(SparseTrim.TrimIfSparse(table));
        Assert.Equal(small, table.Capacity);

        var list = new List<int>(SparseTrim.MinimumCapacity - 1);
        Assert.False(SparseTrim.TrimIfSparse(list));
        Assert.Equal(SparseTrim.MinimumCapacity - 1, list.Capacity);
    }

    [Fact]
    public void A_list_emptied_below_an_eighth_shrinks_to_its_count_and_keeps_its_order()
    {
        var list = Enumerable.Range(0, 20_000).ToList();
        list.RemoveRange(100, 19_900);
        Assert.True(SparseTrim.TrimIfSparse(list));
        Assert.Equal(100, list.Capacity);
        Assert.Equal(Enumerable.Range(0, 100), list);

        var half = Enumerable.Range(0, 4_096).ToList();
        half.RemoveRange(1_000, 3_096);
        Assert.False(SparseTrim.TrimIfSparse(half));
        Assert.Equal(4_096, half.Capacity);
    }
}
