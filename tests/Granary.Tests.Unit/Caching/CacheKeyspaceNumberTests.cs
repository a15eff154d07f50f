using Granary.Caching;
using Microsoft.Extensions.Time.Testing;

namespace Granary.Tests.Unit.Caching;

/// <summary>
/// Number edge cases: integer extremes, float parsing (strtod/strtold rules) and formatting (%.17g,
/// %.17Lf). Expected replies are what redis-server 7.0.15 answered to the same commands; the
/// differential tests compare the same cases against a live redis-server.
/// </summary>
public sealed class CacheKeyspaceNumberTests
{
    private const string Min = "-9223372036854775808";
    private const string Max = "9223372036854775807";
    private const string NotFloat = "ERR value is not a valid float";

    private readonly CacheKeyspace _ks = new(new CacheKeyspaceOptions(), new FakeTimeProvider(DateTimeOffset.Parse("2026-01-01T00:00:00Z", System.Globalization.CultureInfo.InvariantCulture)));

    [Fact]
    public void Lrem_with_the_smallest_count_removes_every_match_instead_of_throwing()
    {
        _ks.Execute("RPUSH", "l", "a", "b", "a", "c", "a");
        Assert.Equal(CacheReply.Int(3), _ks.Execute("LREM", "l", Min, "a"));
        Assert.Equal(CacheReply.BulkArray(["b", "c"]), _ks.Execute("LRANGE", "l", "0", "-1"));
        Assert.Equal(0, _ks.Faults);
    }

    [Fact]
    public void Integer_extremes_answer_like_redis()
    {
        _ks.Execute("RPUSH", "l", "a", "b");
        Assert.Equal(CacheReply.BulkArray(["a", "b"]), _ks.Execute("LRANGE", "l", Min, Max));
        Assert.Equal(CacheReply.EmptyArray, _ks.Execute("LRANGE", "l", Max, Min));
        Assert.Equal(CacheReply.Nil, _ks.Execute("LINDEX", "l", Min));
        Assert.Equal(CacheReply.Nil, _ks.Execute("LINDEX", "l", Max));
        Assert.Equal(RedisText.MustBePositive, _ks.Execute("LPOP", "l", Min).Text);
        Assert.Equal("ERR invalid expire time in 'expire' command", _ks.Execute("EXPIRE", "l", Min).Text);
        Assert.Equal("ERR invalid expire time in 'expire' command", _ks.Execute("EXPIRE", "l", Max).Text);
        Assert.Equal("ERR invalid expire time in 'pexpire' command", _ks.Execute("PEXPIRE", "l", Max).Text);
        Assert.Equal(CacheReply.One, _ks.Execute("PEXPIRE", "l", Min));
        Assert.Equal(CacheReply.Zero, _ks.Execute("EXISTS", "l"));
        Assert.Equal("ERR invalid expire time in 'set' command", _ks.Execute("SET", "s", "v", "EXAT", Max).Text);
        Assert.Equal("ERR invalid expire time in 'set' command", _ks.Execute("SET", "s", "v", "PX", Max).Text);
        Assert.Equal(CacheReply.Ok, _ks.Execute("SET", "s", "v", "PXAT", Max));
        Assert.Equal("ERR decrement would overflow", _ks.Execute("DECRBY", "n", Min).Text);
        Assert.Equal(CacheReply.Int(long.MinValue), _ks.Execute("INCRBY", "n", Min));
        Assert.Equal(RedisText.Overflow, _ks.Execute("DECR", "n").Text);
        Assert.Equal(CacheReply.Int(long.MaxValue), _ks.Execute("HINCRBY", "h", "f", Max));
        Assert.Equal(RedisText.Overflow, _ks.Execute("HINCRBY", "h", "f", "1").Text);
        Assert.Equal("ERR syntax error", _ks.Execute("SCAN", "0", "COUNT", Min).Text);
        _ks.Execute("ZADD", "z", "1", "a");
        Assert.Equal(CacheReply.EmptyArray, _ks.Execute("ZRANGEBYSCORE", "z", "0", "inf", "LIMIT", Min, Min));
        Assert.Equal(CacheReply.EmptyArray, _ks.Execute("ZRANGEBYSCORE", "z", "0", "inf", "LIMIT", Max, Max));
        Assert.Equal(0, _ks.Faults);
    }

    [Theory]
    [InlineData("1e400")]
    [InlineData("-1e400")]
    [InlineData("1e-400")]
    [InlineData(" 5")]
    [InlineData("5 ")]
    [InlineData("nan")]
    [InlineData("0x")]
    [InlineData("1e")]
    [InlineData(".")]
    [InlineData("")]
    public void Scores_that_redis_refuses_are_refused_everywhere_and_store_nothing(string score)
    {
        Assert.Equal(NotFloat, _ks.Execute("ZADD", "z", score, "a").Text);
        Assert.Equal(NotFloat, _ks.Execute("ZINCRBY", "z", score, "a").Text);
        Assert.Equal(NotFloat, _ks.Execute("ZADD", "z", "INCR", score, "a").Text);
        Assert.Equal(CacheReply.Zero, _ks.Execute("EXISTS", "z"));
    }

    [Theory]
    [InlineData("1e-310", "9.9999999999999694e-311")]
    [InlineData("0x1p-1074", "4.9406564584124654e-324")]
    [InlineData("-1e-320", "-9.9998886718268301e-321")]
    [InlineData("0x10", "16")]
    [InlineData(".5", "0.5")]
    [InlineData("5.", "5")]
    [InlineData("+5", "5")]
    [InlineData("Infinity", "inf")]
    [InlineData("-INF", "-inf")]
    [InlineData("1.00000762939453125", "1.0000076293945312")]
    [InlineData("1e-05", "1.0000000000000001e-05")]
    [InlineData("2.5e-5", "2.5000000000000001e-05")]
    [InlineData("0.0001", "0.0001")]
    [InlineData("1e16", "10000000000000000")]
    [InlineData("12345678901234567", "12345678901234568")]
    [InlineData("1e17", "1e+17")]
    [InlineData("123456789012345678", "1.2345678901234568e+17")]
    [InlineData("-0", "0")]
    [InlineData("0.1", "0.10000000000000001")]
    public void Scores_parse_like_strtod_and_print_like_printf_17g(string score, string printed)
    {
        Assert.Equal(CacheReply.One, _ks.Execute("ZADD", "z", score, "a"));
        Assert.Equal(CacheReply.Bulk(printed), _ks.Execute("ZSCORE", "z", "a"));
    }

    [Fact]
    public void Score_arithmetic_and_range_bounds_follow_redis()
    {
        // An increment reply prints the computed score; the stored -0 prints as 0, as in Redis's listpacks.
        Assert.Equal(CacheReply.Bulk("-0"), _ks.Execute("ZINCRBY", "z3", "-0", "y"));
        Assert.Equal(CacheReply.Bulk("0"), _ks.Execute("ZSCORE", "z3", "y"));
        _ks.Execute("ZADD", "z5", "1e308", "a");
        Assert.Equal(CacheReply.Bulk("inf"), _ks.Execute("ZINCRBY", "z5", "1e308", "a"));
        Assert.Equal("ERR resulting score is not a number (NaN)", _ks.Execute("ZINCRBY", "z5", "-inf", "a").Text);

        _ks.Execute("ZADD", "r", "1", "one", "5", "five", "inf", "top");
        Assert.Equal(CacheReply.BulkArray(["five", "top"]), _ks.Execute("ZRANGEBYSCORE", "r", " 5", "1e400"));
        Assert.Equal(CacheReply.BulkArray(["one", "five"]), _ks.Execute("ZRANGEBYSCORE", "r", "", "(1e400"));
        Assert.Equal(CacheReply.BulkArray(["one", "five"]), _ks.Execute("ZRANGEBYSCORE", "r", "0x1", "5"));
        Assert.Equal(CacheReply.BulkArray(["one"]), _ks.Execute("ZRANGEBYSCORE", "r", "1e-400", "2"));
        Assert.Equal(CacheReply.EmptyArray, _ks.Execute("ZRANGEBYSCORE", "r", "(", "("));
        foreach (var (min, max) in new[] { ("nan", "1"), ("(nan", "1"), ("((1", "1"), ("-", "+"), (" ", "1") })
        {
            Assert.Equal("ERR min or max is not a float", _ks.Execute("ZRANGEBYSCORE", "r", min, max).Text);
        }
    }

    [Theory]
    [InlineData(null, "0.1", "0.1")]
    [InlineData("0.1", "0.2", "0.3")]
    [InlineData(null, "1e-20", "0")]
    [InlineData(null, "1e20", "100000000000000000000")]
    [InlineData(null, "0x10", "16")]
    [InlineData(null, "0x1.8p1", "3")]
    [InlineData(null, "-.5e1", "-5")]
    [InlineData(null, "3.0e3", "3000")]
    [InlineData(null, "-0.0", "0")]
    [InlineData(null, "1e-400", "0")]
    [InlineData(null, "1e-4950", "0")]
    [InlineData(null, "0.333333333333333333333333", "0.33333333333333333")]
    [InlineData(null, "123456789.123456789", "123456789.12345678899873747")]
    [InlineData(null, "0.000003814697265625", "0.00000381469726562")]
    [InlineData("10", "5.0e3", "5010")]
    [InlineData("99999999999999999999", "1", "100000000000000000000")]
    [InlineData(null, "1.7976931348623157e308", "179769313486231569995921046774104434048386446944329178485314420765176628523124396354701868608387085564428793419425520689308708363451136055357897278026477617073498977686288394835618163294045594434929537447290627480669417384648879122776218333598953852832103282504751611691208117720159985926376802466863339536384")]
    public void Incrbyfloat_adds_in_long_double_and_prints_like_redis(string? start, string increment, string expected)
    {
        if (start is not null)
        {
            _ks.Execute("SET", "f", start);
        }

        Assert.Equal(CacheReply.Bulk(expected), _ks.Execute("INCRBYFLOAT", "f", increment));
        Assert.Equal(CacheReply.Bulk(expected), _ks.Execute("GET", "f"));
    }

    [Theory]
    [InlineData("1.2e4932", NotFloat)]
    [InlineData("1e-5000", NotFloat)]
    [InlineData(" 1", NotFloat)]
    [InlineData("5e-1 ", NotFloat)]
    [InlineData("0x", NotFloat)]
    [InlineData("nan", NotFloat)]
    [InlineData("infinity", "ERR increment would produce NaN or Infinity")]
    public void Incrbyfloat_refusals_change_nothing(string increment, string error)
    {
        _ks.Execute("SET", "f", "1.5");
        Assert.Equal(error, _ks.Execute("INCRBYFLOAT", "f", increment).Text);
        Assert.False(_ks.LastCommandChanged);
        Assert.Equal(CacheReply.Bulk("1.5"), _ks.Execute("GET", "f"));
    }

    [Fact]
    public void Only_commands_that_change_something_report_a_change()
    {
        _ks.Execute("SET", "s", "v");
        _ks.Execute("RPUSH", "l", "a");
        Assert.True(_ks.LastCommandChanged);
        string[][] unchanged =
        [
            ["GET", "s"], ["LPUSH", "s", "x"], ["INCR", "s"], ["SET", "s", "v", "BOGUS"], ["SET", "s", "w", "NX"],
            ["DEL", "missing"], ["LREM", "l", "0", "zz"], ["LREM", "l", "x", "a"], ["ZADD", "z", "1e400", "m"],
            ["HDEL", "missing", "f"], ["FLUSHALL", "BOGUS"], ["NOSUCHCOMMAND"], ["EXPIRE", "s", "abc"],
        ];
        foreach (var command in unchanged)
        {
            _ks.Execute(command);
            Assert.False(_ks.LastCommandChanged, string.Join(' ', command));
        }

        string[][] changed = [["SET", "s", "w"], ["LREM", "l", "0", "a"], ["EXPIRE", "s", "100"], ["DEL", "s"]];
        foreach (var command in changed)
        {
            _ks.Execute(command);
            Assert.True(_ks.LastCommandChanged, string.Join(' ', command));
        }
    }
}
