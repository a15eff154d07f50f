using Granary.Identity;

namespace Granary.Tests.Unit.Identity;

public sealed class UniqueIdsTests
{
    [Fact]
    public void Ids_are_32_lowercase_hex_characters_and_distinct_across_concurrent_callers()
    {
        var ids = new System.Collections.Concurrent.ConcurrentBag<string>();
        Parallel.For(0, 8, _ =>
        {
            for (var i = 0; i < 25_000; i++)
            {
                ids.Add(UniqueIds.Next());
            }
        });

        Assert.Equal(200_000, ids.Count);
        Assert.Equal(ids.Count, ids.Distinct(StringComparer.Ordinal).Count());
        Assert.All(ids.Take(1_000), id => Assert.Matches("^[0-9a-f]{32}$", id));
    }
}
