using Granary.Caching;
using Microsoft.Extensions.Time.Testing;

namespace Granary.Tests.Unit.Caching;

/// <summary>Bounds, refusals and accounting of the commands Redis clients expect (SETRANGE, SPOP, SRANDMEMBER, HRANDFIELD, RENAME, COPY, ...).</summary>
public sealed class CacheKeyspaceClientCommandsTests
{
    private readonly FakeTimeProvider _time = new(DateTimeOffset.Parse("2026-01-01T00:00:00Z", System.Globalization.CultureInfo.InvariantCulture));

    private CacheKeyspace NewKeyspace(int maxValueLength = 64, int maxRandomCount = 100, int seed = 7) =>
        new(new CacheKeyspaceOptions { MaxValueLength = maxValueLength, MaxRandomCount = maxRandomCount, RandomSeed = seed }, _time);

    [Theory]
    [InlineData("60", "abcde")]
    [InlineData("64", "a")]
    [InlineData("9223372036854775807", "a")]
    public void Setrange_past_the_longest_value_is_refused_with_redis_text_and_changes_nothing(string offset, string value)
    {
        var ks = NewKeyspace();
        ks.Execute("SET", "k", new string('x', 60));
        Assert.Equal(CacheReply.Error("ERR string exceeds maximum allowed size (proto-max-bulk-len)"), ks.Execute("SETRANGE", "k", offset, value));
        Assert.False(ks.LastCommandChanged);
        Assert.Equal(CacheReply.Int(60), ks.Execute("STRLEN", "k"));
    }

    [Theory]
    [InlineData("SETNX")]
    [InlineData("SETEX")]
    [InlineData("PSETEX")]
    public void A_set_variant_refused_for_its_value_answers_the_error_and_stores_nothing(string command)
    {
        var ks = NewKeyspace();
        var value = new string('v', 65);
        var reply = command == "SETNX" ? ks.Execute(command, "k", value) : ks.Execute(command, "k", "100", value);
        Assert.True(reply.IsError, $"{command} answered {reply}");
        Assert.Equal(CacheReply.Int(0), ks.Execute("EXISTS", "k"));
    }

    [Fact]
    public void Setrange_inside_the_bound_overwrites_and_extends()
    {
        var ks = NewKeyspace();
        ks.Execute("SET", "k", "Hello World");
        Assert.Equal(CacheReply.Int(11), ks.Execute("SETRANGE", "k", "6", "Redis"));
        Assert.Equal(CacheReply.Int(64), ks.Execute("SETRANGE", "k", "11", new string('!', 53)));
        Assert.Equal(CacheReply.Bulk("Hello Redis"), ks.Execute("GETRANGE", "k", "0", "10"));
        Assert.Equal(CacheReply.Error("ERR offset is out of range"), ks.Execute("SETRANGE", "k", "-1", "x"));
    }

    [Fact]
    public void Ranges_and_appends_work_on_bytes_padding_with_zeros_and_splitting_characters_as_redis_does()
    {
        var ks = NewKeyspace();
        ks.Execute("SET", "k", "ab");
        Assert.Equal(CacheReply.Int(4), ks.Execute("SETRANGE", "k", "3", "x"));
        Assert.Equal(CacheReply.Bulk(CacheBytes.FromBytes("ab\0x"u8)), ks.Execute("GET", "k"));
        Assert.Equal(CacheReply.Int(4), ks.Execute("STRLEN", "k"));
        Assert.Equal(CacheReply.Int(2), ks.Execute("SETRANGE", "absent", "1", "x"));
        Assert.Equal(CacheReply.Bulk(CacheBytes.FromBytes("\0x"u8)), ks.Execute("GET", "absent"));

        // "é" is C3 A9: a range may cut it, and putting its bytes back together gives the text again.
        ks.Execute("SET", "u", "é");
        Assert.Equal(CacheReply.Bulk(CacheBytes.FromBytes([0xC3])), ks.Execute("GETRANGE", "u", "0", "0"));
        Assert.Equal(CacheReply.Int(2), ks.Execute("SETRANGE", "u", "1", "x"));
        Assert.Equal(CacheReply.Bulk(CacheBytes.FromBytes([0xC3, (byte)'x'])), ks.Execute("GET", "u"));
        Assert.Equal(CacheReply.Int(2), ks.Execute("SETRANGE", "u", "1", CacheBytes.FromBytes([0xA9])));
        Assert.Equal(CacheReply.Bulk("é"), ks.Execute("GET", "u"));
        ks.Execute("SET", "parts", CacheBytes.FromBytes([0xC3]));
        Assert.Equal(CacheReply.Int(2), ks.Execute("APPEND", "parts", CacheBytes.FromBytes([0xA9])));
        Assert.Equal(CacheReply.Bulk("é"), ks.Execute("GET", "parts"));
        Assert.Equal(CacheReply.Int(4), ks.Execute("APPEND", "parts", "ab"));
        Assert.Equal(CacheReply.Bulk("éab"), ks.Execute("GET", "parts"));
    }

    [Theory]
    [InlineData("SRANDMEMBER")]
    [InlineData("HRANDFIELD")]
    public void A_negative_count_is_bounded_by_the_collection_or_the_limit(string command)
    {
        var ks = NewKeyspace(maxRandomCount: 100);
        if (command == "SRANDMEMBER")
        {
            ks.Execute("SADD", "c", "a", "b", "c");
        }
        else
        {
            ks.Execute("HSET", "c", "a", "1", "b", "2", "c", "3");
        }

        Assert.Equal(100, ks.Execute(command, "c", "-100").Items!.Count);
        Assert.Equal(CacheReply.Error(RedisText.RandomCountOverLimit(-101, 100)), ks.Execute(command, "c", "-101"));
        Assert.Equal(CacheReply.Error(RedisText.CountOutOfRange), ks.Execute(command, "c", "-9223372036854775808"));
        var distinct = ks.Execute(command, "c", "9223372036854775807").Items!.Select(i => i.Text).ToList();
        Assert.Equal(["a", "b", "c"], distinct.Order(StringComparer.Ordinal));
    }

    [Fact]
    public void Random_commands_draw_from_the_seeded_source()
    {
        static List<string> Run(CacheKeyspace ks)
        {
            ks.Execute("SADD", "s", "a", "b", "c", "d", "e", "f", "g", "h");
            ks.Execute("HSET", "h", "a", "1", "b", "2", "c", "3", "d", "4");
            return
            [
                ks.Execute("SRANDMEMBER", "s", "3").ToString(), ks.Execute("SRANDMEMBER", "s", "-5").ToString(),
                ks.Execute("HRANDFIELD", "h", "2", "WITHVALUES").ToString(), ks.Execute("SPOP", "s", "4").ToString(), ks.Execute("SPOP", "s").ToString(),
            ];
        }

        Assert.Equal(Run(NewKeyspace(seed: 1)), Run(NewKeyspace(seed: 1)));
        Assert.NotEqual(Run(NewKeyspace(seed: 1)), Run(NewKeyspace(seed: 2)));
    }

    [Fact]
    public void Spop_removes_what_it_returns_and_the_key_when_empty()
    {
        var ks = NewKeyspace();
        ks.Execute("SADD", "s", "a", "b", "c");
        var popped = ks.Execute("SPOP", "s", "2").Items!.Select(i => i.Text!).ToList();
        Assert.Equal(2, popped.Distinct(StringComparer.Ordinal).Count());
        Assert.All(popped, m => Assert.Equal(CacheReply.Zero, ks.Execute("SISMEMBER", "s", m)));
        Assert.Single(ks.Execute("SPOP", "s", "10").Items!);
        Assert.Equal(CacheReply.Zero, ks.Execute("EXISTS", "s"));
        Assert.Equal(CacheReply.Error(RedisText.MustBePositive), ks.Execute("SPOP", "s", "-1"));
    }

    [Fact]
    public void Memory_accounting_returns_to_zero_after_the_new_commands_and_deleting_every_key()
    {
        var ks = NewKeyspace(maxValueLength: 1024);
        string[][] calls =
        [
            ["SET", "s", "hello"], ["SETRANGE", "s", "2", "LLO world"], ["APPEND", "s", "!"], ["GETEX", "s", "EX", "100"], ["SETNX", "n", "1"], ["SETEX", "e", "100", "v"],
            ["MSETNX", "m1", "a", "m2", "b"], ["RENAME", "m1", "renamed-longer"], ["COPY", "s", "s2"], ["RENAMENX", "s2", "s3"],
            ["HSET", "h", "f", "1"], ["HINCRBYFLOAT", "h", "f", "0.25"], ["HINCRBYFLOAT", "h", "g", "1e3"], ["COPY", "h", "h2"],
            ["RPUSH", "l", "a", "b", "c", "d"], ["LSET", "l", "0", "longer"], ["LINSERT", "l", "AFTER", "b", "x"], ["LTRIM", "l", "1", "-2"], ["COPY", "l", "l2"],
            ["SADD", "a", "1", "2", "3"], ["SADD", "b", "2", "3", "4"], ["SINTERSTORE", "i", "a", "b"], ["SUNIONSTORE", "u", "a", "b"], ["SDIFFSTORE", "d", "a", "b"],
            ["SPOP", "u", "2"], ["COPY", "u", "u2"], ["SDIFFSTORE", "u2", "a", "a"],
            ["ZADD", "z", "1", "a", "2", "b", "3", "c"], ["ZPOPMIN", "z"], ["ZPOPMAX", "z", "1"], ["COPY", "z", "z2"], ["RENAME", "z2", "z"],
        ];
        foreach (var call in calls)
        {
            Assert.False(ks.Execute(call).IsError, string.Join(' ', call));
        }

        Assert.True(ks.UsedBytes > 0);
        var keys = ks.LiveKeys().ToArray();
        Assert.Equal(CacheReply.Int(keys.Length), ks.Execute(["DEL", .. keys]));
        Assert.Equal(0, ks.UsedBytes);
    }

    [Fact]
    public void Rename_moves_the_value_and_ttl_and_copy_is_deep()
    {
        var ks = NewKeyspace();
        ks.Execute("RPUSH", "l", "a", "b");
        ks.Execute("EXPIRE", "l", "100");
        Assert.Equal(CacheReply.Ok, ks.Execute("RENAME", "l", "m"));
        Assert.Equal(CacheReply.Int(100), ks.Execute("TTL", "m"));
        Assert.Equal(CacheReply.Error("ERR no such key"), ks.Execute("RENAME", "l", "m"));
        Assert.Equal(CacheReply.One, ks.Execute("COPY", "m", "c"));
        ks.Execute("RPUSH", "c", "z");
        Assert.Equal(CacheReply.Int(2), ks.Execute("LLEN", "m"));
        Assert.Equal(CacheReply.Int(100), ks.Execute("TTL", "c"));
        Assert.Equal(CacheReply.Zero, ks.Execute("COPY", "m", "c"));
        Assert.Equal(CacheReply.Error("ERR Copying to another database is not allowed in cluster mode"), ks.Execute("COPY", "m", "c", "DB", "1"));
    }

    [Fact]
    public void Object_answers_encoding_and_refuses_idletime()
    {
        var ks = NewKeyspace();
        ks.Execute("SET", "i", "123");
        ks.Execute("SADD", "s", "1", "2");
        Assert.Equal(CacheReply.Bulk("int"), ks.Execute("OBJECT", "ENCODING", "i"));
        Assert.Equal(CacheReply.Bulk("intset"), ks.Execute("OBJECT", "ENCODING", "s"));
        Assert.Equal(CacheReply.Nil, ks.Execute("OBJECT", "ENCODING", "absent"));
        Assert.StartsWith("ERR OBJECT IDLETIME is not supported", ks.Execute("OBJECT", "IDLETIME", "i").Text, StringComparison.Ordinal);
        Assert.StartsWith("ERR An LFU maxmemory policy is not selected", ks.Execute("OBJECT", "FREQ", "i").Text, StringComparison.Ordinal);
    }
}
