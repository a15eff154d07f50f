using Granary.Caching;
using Granary.Collections;
using Microsoft.Extensions.Time.Testing;

namespace Granary.Tests.Unit.Caching;

public sealed class CacheKeyspaceTests
{
    private readonly FakeTimeProvider _time = new(DateTimeOffset.Parse("2026-01-01T00:00:00Z", System.Globalization.CultureInfo.InvariantCulture));

    private CacheKeyspace NewKeyspace(CacheKeyspaceOptions? options = null) => new(options ?? new CacheKeyspaceOptions(), _time);

    [Fact]
    public void Set_and_get_round_trip_with_redis_replies()
    {
        var ks = NewKeyspace();
        Assert.Equal(CacheReply.Ok, ks.Execute("SET", "k", "v"));
        Assert.Equal(CacheReply.Bulk("v"), ks.Execute("GET", "k"));
        Assert.Equal(CacheReply.Nil, ks.Execute("GET", "missing"));
        Assert.Equal(CacheReply.Nil, ks.Execute("SET", "k", "w", "NX"));
        Assert.Equal(CacheReply.Bulk("v"), ks.Execute("SET", "k", "w", "XX", "GET"));
        Assert.Equal(CacheReply.Status("string"), ks.Execute("TYPE", "k"));
    }

    [Fact]
    public void Wrong_type_and_number_errors_use_redis_text()
    {
        var ks = NewKeyspace();
        ks.Execute("LPUSH", "l", "a");
        Assert.Equal(RedisText.WrongType, ks.Execute("GET", "l").Text);
        ks.Execute("SET", "s", "abc");
        Assert.Equal("ERR value is not an integer or out of range", ks.Execute("INCR", "s").Text);
        Assert.Equal("ERR syntax error", ks.Execute("SET", "s", "x", "NX", "XX").Text);
        Assert.Equal("ERR invalid expire time in 'set' command", ks.Execute("SET", "s", "x", "EX", "0").Text);
        Assert.Equal("ERR wrong number of arguments for 'get' command", ks.Execute("GET").Text);
        Assert.Equal(CacheReply.Bulk("abc"), ks.Execute("GET", "s"));
        ks.Execute("SET", "max", long.MaxValue.ToString(System.Globalization.CultureInfo.InvariantCulture));
        Assert.Equal("ERR increment or decrement would overflow", ks.Execute("INCR", "max").Text);
    }

    [Fact]
    public void Ttl_expires_lazily_with_the_clock()
    {
        var ks = NewKeyspace();
        ks.Execute("SET", "k", "v", "EX", "10");
        Assert.Equal(CacheReply.Int(10), ks.Execute("TTL", "k"));
        _time.Advance(TimeSpan.FromSeconds(9));
        Assert.Equal(CacheReply.Int(1000), ks.Execute("PTTL", "k"));
        _time.Advance(TimeSpan.FromMilliseconds(1001));
        Assert.Equal(CacheReply.Nil, ks.Execute("GET", "k"));
        Assert.Equal(CacheReply.Int(-2), ks.Execute("TTL", "k"));
        Assert.Equal(1, ks.Statistics.Expirations);
    }

    [Fact]
    public void Active_expiry_reclaims_keys_nobody_reads()
    {
        var ks = NewKeyspace();
        for (var i = 0; i < 1000; i++)
        {
            ks.Execute("SET", $"k{i}", "v", "PX", "100");
        }

        ks.Execute("SET", "keep", "v");
        _time.Advance(TimeSpan.FromSeconds(1));
        var reclaimed = 0;
        for (var cycle = 0; cycle < 200 && ks.Count > 1; cycle++)
        {
            reclaimed += ks.ExpireCycle();
        }

        Assert.Equal(1000, reclaimed);
        Assert.Equal(1, ks.Count);
        Assert.Equal(1000, ks.Statistics.Expirations);
    }

    [Fact]
    public void Tables_left_by_a_burst_of_expired_keys_are_given_back()
    {
        var ks = NewKeyspace();
        for (var i = 0; i < 50_000; i++)
        {
            ks.Execute("SET", $"burst{i}", "v", "PX", "100");
        }

        for (var i = 0; i < 100; i++)
        {
            ks.Execute("SET", $"keep{i}", "v");
        }

        var peak = ks.KeyTableSlots;
        Assert.True(peak >= 50_100, $"{peak} slots for 50,100 keys");
        ks.ExpireCycle();
        Assert.Equal(peak, ks.KeyTableSlots); // nothing expired yet: the table stays as it is

        _time.Advance(TimeSpan.FromSeconds(1));
        for (var cycle = 0; cycle < 10_000 && ks.Count > 100; cycle++)
        {
            ks.ExpireCycle();
        }

        Assert.Equal(100, ks.Count);
        Assert.True(ks.KeyTableSlots < SparseTrim.MinimumCapacity, $"{ks.KeyTableSlots} slots left for 100 keys (peak {peak})");
        for (var i = 0; i < 100; i++)
        {
            Assert.Equal("v", ks.Execute("GET", $"keep{i}").Text);
        }

        Assert.Equal(CacheReply.One, ks.Execute("DEL", "keep0"));
        Assert.Equal(99, ks.Count);
    }

    [Fact]
    public void Persist_and_expire_options_follow_redis()
    {
        var ks = NewKeyspace();
        ks.Execute("SET", "k", "v");
        Assert.Equal(CacheReply.Zero, ks.Execute("EXPIRE", "k", "10", "XX"));
        Assert.Equal(CacheReply.One, ks.Execute("EXPIRE", "k", "10", "NX"));
        Assert.Equal(CacheReply.Zero, ks.Execute("EXPIRE", "k", "5", "GT"));
        Assert.Equal(CacheReply.One, ks.Execute("EXPIRE", "k", "5", "LT"));
        Assert.Equal(CacheReply.One, ks.Execute("PERSIST", "k"));
        Assert.Equal(CacheReply.Int(-1), ks.Execute("TTL", "k"));
        Assert.Equal(CacheReply.One, ks.Execute("EXPIRE", "k", "-1"));
        Assert.Equal(CacheReply.Zero, ks.Execute("EXISTS", "k"));
    }

    [Fact]
    public void Lru_evicts_the_least_recently_used_keys()
    {
        var ks = NewKeyspace(new CacheKeyspaceOptions { MaxMemoryBytes = 50_000, EvictionPolicy = EvictionPolicy.Lru, EvictionSamples = 64 });
        ks.Execute("SET", "hot", new string('h', 100));
        for (var i = 0; i < 2000; i++)
        {
            ks.Execute("SET", $"k{i}", new string('x', 100));
            ks.Execute("GET", "hot");
        }

        Assert.True(ks.UsedBytes <= 50_000 + 1000, $"used {ks.UsedBytes}");
        Assert.True(ks.Statistics.Evictions > 1000);
        Assert.Equal(CacheReply.Bulk(new string('h', 100)), ks.Execute("GET", "hot"));
        Assert.Equal(CacheReply.Nil, ks.Execute("GET", "k0"));
    }

    [Fact]
    public void Lfu_keeps_frequently_used_keys()
    {
        var ks = NewKeyspace(new CacheKeyspaceOptions { MaxMemoryBytes = 40_000, EvictionPolicy = EvictionPolicy.Lfu, EvictionSamples = 16 });
        for (var i = 0; i < 10; i++)
        {
            ks.Execute("SET", $"freq{i}", "v");
            for (var r = 0; r < 200; r++)
            {
                ks.Execute("GET", $"freq{i}");
            }
        }

        for (var i = 0; i < 3000; i++)
        {
            ks.Execute("SET", $"once{i}", new string('x', 50));
        }

        var survivors = Enumerable.Range(0, 10).Count(i => !ks.Execute("GET", $"freq{i}").IsNil);
        Assert.True(survivors >= 9, $"{survivors} of 10 frequently used keys survived");
        Assert.True(ks.Statistics.Evictions > 0);
    }

    [Fact]
    public void Ttl_first_evicts_the_soonest_expiring_keys_before_persistent_ones()
    {
        var ks = NewKeyspace(new CacheKeyspaceOptions { MaxMemoryBytes = 30_000, EvictionPolicy = EvictionPolicy.TtlFirst, EvictionSamples = 8 });
        for (var i = 0; i < 50; i++)
        {
            ks.Execute("SET", $"persistent{i}", new string('p', 50));
        }

        for (var i = 0; i < 500; i++)
        {
            ks.Execute("SET", $"ttl{i}", new string('t', 50), "EX", (1000 + i).ToString(System.Globalization.CultureInfo.InvariantCulture));
        }

        Assert.True(ks.Statistics.Evictions > 0);
        Assert.All(Enumerable.Range(0, 50), i => Assert.False(ks.Execute("GET", $"persistent{i}").IsNil));
    }

    [Fact]
    public void No_eviction_refuses_writes_with_the_oom_error_and_keeps_data()
    {
        var ks = NewKeyspace(new CacheKeyspaceOptions { MaxMemoryBytes = 2_000, EvictionPolicy = EvictionPolicy.NoEviction });
        CacheReply reply = CacheReply.Ok;
        var i = 0;
        while (!reply.IsError)
        {
            reply = ks.Execute("SET", $"k{i++}", new string('x', 100));
        }

        Assert.Equal("OOM command not allowed when used memory > 'maxmemory'.", reply.Text);
        Assert.Equal(CacheReply.Bulk(new string('x', 100)), ks.Execute("GET", "k0"));
        Assert.Equal(CacheReply.One, ks.Execute("DEL", "k0"));
        Assert.Equal(1, ks.Statistics.OutOfMemoryRejections);
    }

    [Fact]
    public void Cas_succeeds_only_on_the_version_read()
    {
        var ks = NewKeyspace();
        Assert.Equal(CacheReply.Status("NOT_FOUND"), ks.Execute("CAS", "k", "v", "1"));
        ks.Execute("SET", "k", "v1");
        var gets = ks.Execute("GETS", "k");
        var version = gets.Items![1].Integer;
        ks.Execute("SET", "k", "v2");
        Assert.Equal(CacheReply.Status("EXISTS"), ks.Execute("CAS", "k", "mine", version.ToString(System.Globalization.CultureInfo.InvariantCulture)));
        Assert.Equal(CacheReply.Bulk("v2"), ks.Execute("GET", "k"));
        var current = ks.Execute("GETS", "k").Items![1].Integer;
        Assert.Equal(CacheReply.Status("STORED"), ks.Execute("CAS", "k", "mine", current.ToString(System.Globalization.CultureInfo.InvariantCulture)));
        Assert.Equal(CacheReply.Bulk("mine"), ks.Execute("GET", "k"));
    }

    [Fact]
    public void Size_limits_refuse_without_changing_anything()
    {
        var ks = NewKeyspace(new CacheKeyspaceOptions { MaxKeyLength = 8, MaxValueLength = 16 });
        ks.Execute("SET", "k", "small");
        Assert.StartsWith("ERR key is 9 characters long", ks.Execute("SET", "123456789", "v").Text, StringComparison.Ordinal);
        Assert.Equal(RedisText.ValueTooLarge, ks.Execute("SET", "k", new string('x', 17)).Text);
        Assert.Equal(RedisText.ValueTooLarge, ks.Execute("APPEND", "k", new string('x', 12)).Text);
        Assert.Equal(CacheReply.Bulk("small"), ks.Execute("GET", "k"));
        Assert.Equal(1, ks.Count);
    }

    [Fact]
    public void Collections_behave_like_redis()
    {
        var ks = NewKeyspace();
        Assert.Equal(CacheReply.Int(2), ks.Execute("HSET", "h", "a", "1", "b", "2"));
        Assert.Equal(CacheReply.Int(11), ks.Execute("HINCRBY", "h", "a", "10"));
        Assert.Equal(CacheReply.Int(3), ks.Execute("RPUSH", "l", "a", "b", "a"));
        Assert.Equal(CacheReply.Int(2), ks.Execute("LREM", "l", "0", "a"));
        Assert.Equal(CacheReply.BulkArray(["b"]), ks.Execute("LRANGE", "l", "0", "-1"));
        Assert.Equal(CacheReply.Int(2), ks.Execute("ZADD", "z", "1", "a", "2", "b"));
        Assert.Equal(CacheReply.Bulk("3.5"), ks.Execute("ZINCRBY", "z", "2.5", "a"));
        Assert.Equal(CacheReply.BulkArray(["b", "2", "a", "3.5"]), ks.Execute("ZRANGE", "z", "0", "-1", "WITHSCORES"));
        Assert.Equal(CacheReply.BulkArray(["a"]), ks.Execute("ZRANGEBYSCORE", "z", "(2", "+inf"));
        Assert.Equal(CacheReply.Int(1), ks.Execute("ZRANK", "z", "a"));
        Assert.Equal(CacheReply.Bulk("0.10000000000000001"), ks.Execute("ZINCRBY", "z2", "0.1", "m"));
        Assert.Equal(CacheReply.One, ks.Execute("SADD", "s", "x"));
        Assert.Equal(CacheReply.One, ks.Execute("SREM", "s", "x"));
        Assert.Equal(CacheReply.Status("none"), ks.Execute("TYPE", "s"));
    }

    [Fact]
    public void Scan_visits_every_key_once_with_match_and_count()
    {
        var ks = NewKeyspace();
        for (var i = 0; i < 500; i++)
        {
            ks.Execute("SET", $"user:{i}", "v");
            ks.Execute("SET", $"other:{i}", "v");
        }

        var seen = new List<string>();
        var cursor = "0";
        var calls = 0;
        do
        {
            var reply = ks.Execute("SCAN", cursor, "MATCH", "user:*", "COUNT", "50");
            cursor = reply.Items![0].Text!;
            seen.AddRange(reply.Items[1].Items!.Select(r => r.Text!));
            calls++;
        }
        while (cursor != "0");

        Assert.Equal(500, seen.Count);
        Assert.Equal(500, seen.Distinct(StringComparer.Ordinal).Count());
        Assert.InRange(calls, 15, 30);
    }

    [Theory]
    [InlineData("0", true, 0L)]
    [InlineData("-12", true, -12L)]
    [InlineData("9223372036854775807", true, long.MaxValue)]
    [InlineData("-9223372036854775808", true, long.MinValue)]
    [InlineData("9223372036854775808", false, 0L)]
    [InlineData("01", false, 0L)]
    [InlineData("+1", false, 0L)]
    [InlineData(" 1", false, 0L)]
    [InlineData("-0", false, 0L)]
    [InlineData("", false, 0L)]
    public void Integers_parse_like_string2ll(string text, bool ok, long value)
    {
        Assert.Equal(ok, RedisText.TryParseInt64(text, out var parsed));
        if (ok)
        {
            Assert.Equal(value, parsed);
        }
    }

    [Theory]
    [InlineData(1.5, "1.5")]
    [InlineData(1e20, "1e+20")]
    [InlineData(0.1, "0.10000000000000001")]
    [InlineData(3, "3")]
    public void Scores_format_like_printf_17g(double value, string expected) => Assert.Equal(expected, RedisText.FormatScore(value));

    [Theory]
    [InlineData("user:*", "user:42", true)]
    [InlineData("user:?", "user:42", false)]
    [InlineData("h[ae]llo", "hallo", true)]
    [InlineData("h[^e]llo", "hello", false)]
    [InlineData("h[a-c]llo", "hbllo", true)]
    [InlineData("a\\*b", "a*b", true)]
    public void Glob_matches_like_redis(string pattern, string text, bool expected) => Assert.Equal(expected, GlobPattern.IsMatch(pattern, text));

    [Fact]
    public void A_moved_reply_is_an_error_with_the_moved_text_and_a_typed_ring_version()
    {
        var moved = CacheReply.Moved(7);
        Assert.True(moved.IsError);
        Assert.True(moved.IsMoved);
        Assert.Equal(7, moved.MovedRingVersion);
        Assert.Equal("(error) MOVED ring version 7", moved.ToString());

        // The text alone is not the signal: an error that merely reads like one is not retried as MOVED.
        var lookalike = CacheReply.Error("MOVED ring version 7");
        Assert.False(lookalike.IsMoved);
        Assert.Null(lookalike.MovedRingVersion);
        Assert.False(CacheReply.FromParts(CacheReplyKind.Error, "MOVED ring version 7", 0, null).IsMoved);
    }
}
