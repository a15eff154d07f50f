using System.Globalization;
using Granary.Caching;
using Microsoft.Extensions.Time.Testing;

namespace Granary.Tests.Unit.Caching;

/// <summary>What persistent shards rely on: per-key snapshots that reload faithfully, and versions that never repeat across reloads.</summary>
public sealed class CacheKeyspaceSnapshotTests
{
    private readonly FakeTimeProvider _time = new(DateTimeOffset.Parse("2026-01-01T00:00:00Z", CultureInfo.InvariantCulture));

    [Fact]
    public void Snapshots_of_every_type_reload_into_an_equal_keyspace_and_expired_keys_have_none()
    {
        var source = new CacheKeyspace(new CacheKeyspaceOptions(), _time);
        source.Execute("SET", "s", "v", "EX", "100");
        source.Execute("HSET", "h", "f1", "a", "f2", "b");
        source.Execute("RPUSH", "l", "x", "y", "x");
        source.Execute("SADD", "set", "m1", "m2");
        source.Execute("ZADD", "z", "1.5", "a", "-2", "b");
        source.Execute("SET", "gone", "v", "PX", "10");
        _time.Advance(TimeSpan.FromMilliseconds(50));

        var keys = new[] { "s", "h", "l", "set", "z", "gone", "absent" };
        var rows = keys.Select(source.Snapshot).ToList();
        Assert.Null(rows[5]);
        Assert.Null(rows[6]);

        var reloaded = new CacheKeyspace(new CacheKeyspaceOptions(), _time);
        reloaded.Import(rows.OfType<CacheEntryData>());
        foreach (var command in new[] { new[] { "GET", "s" }, ["TTL", "s"], ["HGET", "h", "f2"], ["LRANGE", "l", "0", "-1"], ["SCARD", "set"], ["ZRANGE", "z", "0", "-1", "WITHSCORES"], ["EXISTS", "gone"] })
        {
            Assert.Equal(source.Execute(command), reloaded.Execute(command));
        }
    }

    [Fact]
    public void Seeded_versions_are_above_every_version_of_an_earlier_activation()
    {
        var first = new CacheKeyspace(new CacheKeyspaceOptions(), _time);
        first.Execute("SET", "k", "1");
        var before = first.Execute("GETS", "k").Items![1].Integer;

        var second = new CacheKeyspace(new CacheKeyspaceOptions(), _time);
        second.SeedVersions(2L << 40);
        second.Import([first.Snapshot("k")!]);
        var after = second.Execute("GETS", "k").Items![1].Integer;
        Assert.True(after > 2L << 40);
        Assert.Equal(CacheReply.Status("EXISTS"), second.Execute("CAS", "k", "2", before.ToString(CultureInfo.InvariantCulture)));
    }
}
