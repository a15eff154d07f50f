using Granary.Caching;
using Microsoft.Extensions.Time.Testing;

namespace Granary.Tests.Unit.Caching;

/// <summary>The keyspace's WATCH stamps: what counts as a change, expiry, and the bound on memory.</summary>
public sealed class CacheKeyspaceWatchTests
{
    private readonly FakeTimeProvider _time = new(DateTimeOffset.Parse("2026-01-01T00:00:00Z", System.Globalization.CultureInfo.InvariantCulture));

    private CacheKeyspace NewKeyspace() => new(new CacheKeyspaceOptions(), _time);

    [Theory]
    [InlineData("SET k w", true)]
    [InlineData("SET k v", true)]
    [InlineData("PEXPIRE k 5000", true)]
    [InlineData("DEL k", true)]
    [InlineData("FLUSHALL", true)]
    [InlineData("DELIFEQ k v", true)]
    [InlineData("DELIFEQ k other", false)]
    [InlineData("GET k", false)]
    [InlineData("SET other v", false)]
    [InlineData("DEL other", false)]
    [InlineData("PERSIST k", false)]
    public void A_change_to_the_key_and_only_to_it_fails_the_check(string command, bool changes)
    {
        var ks = NewKeyspace();
        ks.Execute("SET", "k", "v");
        var stamps = ks.Watch(["k"]);
        ks.Execute(command.Split(' '));
        Assert.Equal(!changes, ks.WatchedUnchanged(["k"], stamps));
    }

    [Fact]
    public void An_absent_key_created_and_deleted_again_counts_as_changed()
    {
        var ks = NewKeyspace();
        var stamps = ks.Watch(["k"]);
        Assert.True(ks.WatchedUnchanged(["k"], stamps));
        ks.Execute("SET", "k", "v");
        ks.Execute("DEL", "k");
        Assert.False(ks.WatchedUnchanged(["k"], stamps));
    }

    [Fact]
    public void Expiry_after_watch_is_a_change_but_a_key_expired_before_watch_is_not()
    {
        var ks = NewKeyspace();
        ks.Execute("SET", "live", "v", "PX", "100");
        ks.Execute("SET", "gone", "v", "PX", "100");
        var live = ks.Watch(["live"]);
        _time.Advance(TimeSpan.FromMilliseconds(101));
        var gone = ks.Watch(["gone"]);
        Assert.False(ks.WatchedUnchanged(["live"], live));
        Assert.True(ks.WatchedUnchanged(["gone"], gone));
    }

    [Fact]
    public void Stamps_of_another_keyspace_never_pass()
    {
        var first = NewKeyspace();
        var second = NewKeyspace();
        Assert.False(second.WatchedUnchanged(["k"], first.Watch(["k"])));
        Assert.False(first.WatchedUnchanged(["k"], [.. first.Watch(["k"]).Take(1)]));
    }

    [Fact]
    public void Memory_is_bounded_and_a_forgotten_key_counts_as_changed()
    {
        var ks = NewKeyspace();
        var oldest = ks.Watch(["k0"]);
        for (var i = 1; i <= CacheKeyspace.MaxWatchedKeys; i++)
        {
            ks.Watch(["k" + i.ToString(System.Globalization.CultureInfo.InvariantCulture)]);
        }

        Assert.Equal(CacheKeyspace.MaxWatchedKeys, ks.WatchedKeys);
        Assert.False(ks.WatchedUnchanged(["k0"], oldest));
    }
}
