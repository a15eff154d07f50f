using Granary.Caching;
using Microsoft.Extensions.Time.Testing;

namespace Granary.Tests.Unit.Caching;

/// <summary>The memcached item commands: value, flags and CAS unique together; memcached's exptime and incr/decr rules.</summary>
public sealed class CacheKeyspaceMemcachedTests
{
    private static readonly DateTimeOffset Start = DateTimeOffset.Parse("2026-01-01T00:00:00Z", System.Globalization.CultureInfo.InvariantCulture);
    private readonly FakeTimeProvider _time = new(Start);

    [Fact]
    public void Exptime_is_relative_up_to_30_days_absolute_beyond_and_negative_expires_at_once()
    {
        var ks = NewKeyspace();
        Assert.Equal(CacheReply.Status("STORED"), ks.Execute("MCSTORE", "rel", "v", "set", "0", "2592000"));
        Assert.Equal(CacheReply.Status("STORED"), ks.Execute("MCSTORE", "abs", "v", "set", "0", (Start.ToUnixTimeSeconds() + 10).ToString(System.Globalization.CultureInfo.InvariantCulture)));
        Assert.Equal(CacheReply.Status("STORED"), ks.Execute("MCSTORE", "old", "v", "set", "0", "2592001"));
        Assert.Equal(CacheReply.Status("STORED"), ks.Execute("MCSTORE", "neg", "v", "set", "0", "-1"));
        Assert.Equal(CacheReply.Int(2_592_000), ks.Execute("TTL", "rel"));
        Assert.Equal(CacheReply.Int(10), ks.Execute("TTL", "abs"));
        Assert.Equal(CacheReply.Zero, ks.Execute("EXISTS", "old", "neg"));

        _time.Advance(TimeSpan.FromSeconds(11));
        Assert.True(ks.Execute("MCGET", "abs").IsNil);
        Assert.False(ks.Execute("MCGET", "rel").IsNil);
    }

    [Fact]
    public void Flags_and_cas_travel_with_the_value_and_survive_export_and_import()
    {
        var ks = NewKeyspace();
        ks.Execute("MCSTORE", "k", "hello", "set", "4294967295", "0");
        var item = ks.Execute("MCGET", "k");
        Assert.Equal("hello", item.Items![0].Text);
        Assert.Equal(4294967295, item.Items[1].Integer);
        var cas = item.Items[2].Integer.ToString(System.Globalization.CultureInfo.InvariantCulture);
        Assert.Equal(CacheReply.Status("STORED"), ks.Execute("MCSTORE", "k", "!", "append", "7", "100"));
        Assert.Equal(CacheReply.Status("EXISTS"), ks.Execute("MCSTORE", "k", "x", "cas", "1", "0", cas));
        var after = ks.Execute("MCGET", "k");
        Assert.Equal("hello!", after.Items![0].Text);
        Assert.Equal(4294967295, after.Items[1].Integer);
        Assert.Equal(CacheReply.Int(-1), ks.Execute("TTL", "k"));

        var copy = NewKeyspace();
        copy.Import([ks.Snapshot("k")!]);
        Assert.Equal(4294967295, copy.Execute("MCGET", "k").Items![1].Integer);

        // A write that is not a memcached store clears the flags.
        ks.Execute("SET", "k", "plain");
        Assert.Equal(0, ks.Execute("MCGET", "k").Items![1].Integer);
        Assert.Single(ks.Snapshot("k")!.Items);
    }

    [Fact]
    public void Meta_store_compares_a_cas_unique_by_mode_and_answers_the_unique_it_stored()
    {
        var ks = NewKeyspace();
        Assert.Equal(CacheReply.Status("NOT_FOUND"), ks.Execute("MCMETASTORE", "k", "v", "set", "0", "0", "1").Items![0]);
        var stored = ks.Execute("MCMETASTORE", "k", "v", "set", "5", "60", "-");
        Assert.Equal(CacheReply.Status("STORED"), stored.Items![0]);
        var cas = stored.Items[1].Integer;
        Assert.Equal(cas, ks.Execute("MCGET", "k").Items![2].Integer);
        Assert.Equal(60, ks.Execute("MCGET", "k").Items![3].Integer);
        var stale = (cas - 1).ToString(System.Globalization.CultureInfo.InvariantCulture);
        var current = cas.ToString(System.Globalization.CultureInfo.InvariantCulture);
        Assert.Equal(CacheReply.Status("EXISTS"), ks.Execute("MCMETASTORE", "k", "x", "append", "0", "0", stale).Items![0]);
        Assert.Equal(CacheReply.Int(0), ks.Execute("MCMETASTORE", "k", "x", "append", "0", "0", stale).Items![1]);
        Assert.Equal(CacheReply.Status("NOT_STORED"), ks.Execute("MCMETASTORE", "k", "x", "add", "0", "0", "-").Items![0]);
        var appended = ks.Execute("MCMETASTORE", "k", "!", "append", "9", "0", current);
        Assert.Equal(CacheReply.Status("STORED"), appended.Items![0]);
        Assert.True(appended.Items[1].Integer > cas);
        Assert.Equal("v!", ks.Execute("MCGET", "k").Items![0].Text);
        Assert.Equal(5, ks.Execute("MCGET", "k").Items![1].Integer);
        Assert.Equal(CacheReply.Status("EXISTS"), ks.Execute("MCDELETE", "k", current));
        Assert.Equal(CacheReply.Status("DELETED"), ks.Execute("MCDELETE", "k", appended.Items[1].Integer.ToString(System.Globalization.CultureInfo.InvariantCulture)));
        Assert.Equal(CacheReply.Status("NOT_FOUND"), ks.Execute("MCDELETE", "k", "-"));
    }

    [Fact]
    public void Meta_arithmetic_creates_a_missing_counter_only_when_asked_and_reports_cas_and_ttl()
    {
        var ks = NewKeyspace();
        Assert.Equal(CacheReply.Status("NOT_FOUND"), ks.Execute("MCARITH", "n", "incr", "5", "-", "0"));
        Assert.False(ks.Execute("EXISTS", "n").Integer > 0);
        var created = ks.Execute("MCARITH", "n", "incr", "5", "30", "10");
        Assert.Equal("10", created.Items![0].Text);
        Assert.Equal(-1, created.Items[2].Integer); // the TTL before N set it
        Assert.Equal(CacheReply.Int(30), ks.Execute("TTL", "n"));
        Assert.Equal(1, created.Items[3].Integer);
        var decremented = ks.Execute("MCARITH", "n", "decr", "25", "30", "10");
        Assert.Equal("0", decremented.Items![0].Text);
        Assert.True(decremented.Items[1].Integer > created.Items[1].Integer);
        Assert.Equal(0, decremented.Items[3].Integer);
        ks.Execute("MCSTORE", "s", "abc", "set", "0", "0");
        Assert.Equal(CacheKeyspace.MemcachedNonNumeric, ks.Execute("MCARITH", "s", "incr", "1", "0", "0").Text);
        Assert.Equal("abc", ks.Execute("MCGET", "s").Items![0].Text);
    }

    [Fact]
    public void Meta_arithmetic_compares_a_cas_unique_and_sets_the_ttl_in_the_order_sent()
    {
        var ks = NewKeyspace();
        var created = ks.Execute("MCARITH", "n", "incr", "1", "0", "7", "-", "60", "TN");
        Assert.Equal(CacheReply.Int(-1), ks.Execute("TTL", "n")); // N0 came after T60
        var cas = created.Items![1].Integer.ToString(System.Globalization.CultureInfo.InvariantCulture);
        var wrong = (created.Items[1].Integer + 1).ToString(System.Globalization.CultureInfo.InvariantCulture);

        Assert.Equal(CacheReply.Status("EXISTS"), ks.Execute("MCARITH", "n", "incr", "1", "-", "0", wrong, "60", "T"));
        Assert.Equal("7", ks.Execute("MCGET", "n").Items![0].Text);
        Assert.Equal(CacheReply.Int(-1), ks.Execute("TTL", "n"));

        var incremented = ks.Execute("MCARITH", "n", "incr", "1", "-", "0", cas, "60", "T");
        Assert.Equal("8", incremented.Items![0].Text);
        Assert.Equal(-1, incremented.Items[2].Integer); // the TTL before T
        Assert.Equal(CacheReply.Int(60), ks.Execute("TTL", "n"));
        Assert.Equal(CacheReply.Status("EXISTS"), ks.Execute("MCARITH", "n", "incr", "1", "-", "0", cas, "-", ""));
        Assert.Equal("9", ks.Execute("MCARITH", "n", "incr", "1", "-", "0", "0", "-", "").Items![0].Text); // 0 compares nothing

        // memcached's order: an empty item is not a number before any unique is compared.
        ks.Execute("MCSTORE", "e", string.Empty, "set", "0", "0");
        Assert.Equal(CacheKeyspace.MemcachedNonNumeric, ks.Execute("MCARITH", "e", "incr", "1", "-", "0", wrong, "-", "").Text);
        Assert.Equal(CacheReply.Status("EXISTS"), ks.Execute("MCARITH", "n", "incr", "1", "-", "0", wrong, "-", ""));
        Assert.True(ks.Execute("MCARITH", "n", "incr", "1", "-", "0", "x", "-", "").IsError);
        Assert.True(ks.Execute("MCARITH", "n", "incr", "1", "-", "0", "-", "60").IsError); // cas, exptime and order go together
        Assert.True(ks.Execute("MCARITH", "n", "incr", "1", "-", "0", "-", "60", "TX").IsError);
    }

    [Fact]
    public void A_base64_key_mark_is_kept_by_a_stale_delete_and_dropped_by_an_append_or_a_plain_store()
    {
        var ks = NewKeyspace();
        ks.Execute("MCMETASTORE", "k", "v", "set", "0", "0", "-", "B");
        Assert.Equal(1, ks.Execute("MCMETAGET", "k", "-", "-", "-", "").Items![8].Integer);
        ks.Execute("MCDELETE", "k", "-", "I", "-");
        Assert.Equal(1, ks.Execute("MCMETAGET", "k", "-", "-", "-", "").Items![8].Integer);
        ks.Execute("MCMETASTORE", "k", "!", "append", "0", "0", "-", "B");
        Assert.Equal(0, ks.Execute("MCMETAGET", "k", "-", "-", "-", "").Items![8].Integer);
        ks.Execute("MCMETASTORE", "k", "v", "set", "0", "0", "-", "IB");
        Assert.Equal(1, ks.Execute("MCMETAGET", "k", "-", "-", "-", "").Items![8].Integer);
        ks.Execute("MCMETASTORE", "k", "v", "set", "0", "0", "-");
        Assert.Equal(0, ks.Execute("MCMETAGET", "k", "-", "-", "-", "").Items![8].Integer);
        Assert.True(ks.Execute("MCMETASTORE", "k", "v", "set", "0", "0", "-", "X").IsError);
    }

    [Fact]
    public void Meta_get_marks_one_winner_for_a_missing_stale_or_expiring_item_and_a_write_clears_the_marks()
    {
        var ks = NewKeyspace();
        Assert.True(ks.Execute("MCMETAGET", "k", "-", "-", "-", "").IsNil);
        var vivified = ks.Execute("MCMETAGET", "k", "-", "30", "-", "N");
        Assert.Equal(["", "W", "1"], [vivified.Items![0].Text!, vivified.Items[4].Text!, vivified.Items[5].Integer.ToString(System.Globalization.CultureInfo.InvariantCulture)]);
        Assert.Equal(-1, vivified.Items[3].Integer);
        Assert.Equal(CacheReply.Int(30), ks.Execute("TTL", "k"));
        Assert.Equal("Z", ks.Execute("MCMETAGET", "k", "-", "30", "-", "N").Items![4].Text);

        ks.Execute("MCSTORE", "k", "v", "set", "0", "100");
        Assert.Equal(string.Empty, ks.Execute("MCMETAGET", "k", "-", "-", "100", "R").Items![4].Text);
        _time.Advance(TimeSpan.FromMilliseconds(500));
        Assert.Equal(string.Empty, ks.Execute("MCMETAGET", "k", "-", "-", "100", "R").Items![4].Text);
        _time.Advance(TimeSpan.FromSeconds(1));
        Assert.Equal("W", ks.Execute("MCMETAGET", "k", "-", "-", "100", "R").Items![4].Text);
        Assert.Equal("Z", ks.Execute("MCMETAGET", "k", "-", "-", "100", "R").Items![4].Text);

        ks.Execute("MCSTORE", "k", "v", "set", "0", "0");
        var version = ks.Execute("MCGET", "k").Items![2].Integer;
        Assert.Equal(CacheReply.Status("DELETED"), ks.Execute("MCDELETE", "k", "-", "I", "60"));
        var stale = ks.Execute("MCMETAGET", "k", "-", "-", "-", "");
        Assert.Equal("XW", stale.Items![4].Text);
        Assert.True(stale.Items[2].Integer > version);
        Assert.Equal("v", stale.Items[0].Text);
        Assert.Equal(60, stale.Items[3].Integer);
        Assert.Equal("ZX", ks.Execute("MCMETAGET", "k", "-", "-", "-", "").Items![4].Text);
        ks.Execute("SET", "k", "fresh");
        Assert.Equal(string.Empty, ks.Execute("MCMETAGET", "k", "-", "-", "-", "").Items![4].Text);
    }

    [Fact]
    public void A_vivifying_meta_get_is_held_to_the_memory_bound_and_a_plain_one_is_not()
    {
        var ks = new CacheKeyspace(new CacheKeyspaceOptions { MaxMemoryBytes = 2_000, EvictionPolicy = EvictionPolicy.NoEviction }, _time);
        for (var i = 0; ks.UsedBytes <= 2_000; i++)
        {
            ks.Execute("SET", "k" + i.ToString(System.Globalization.CultureInfo.InvariantCulture), new string('x', 100));
        }

        Assert.Equal(RedisText.OutOfMemory, ks.Execute("MCMETAGET", "new", "-", "30", "-", "N").Text);
        Assert.Equal(CacheReply.Zero, ks.Execute("EXISTS", "new"));
        Assert.Equal(new string('x', 100), ks.Execute("MCMETAGET", "k0", "-", "30", "-", "N").Items![0].Text);
        Assert.True(ks.Execute("MCMETAGET", "missing", "-", "-", "-", "").IsNil);
    }

    [Fact]
    public void Meta_get_reports_whether_an_item_was_fetched_and_since_when_and_u_leaves_both_alone()
    {
        var ks = NewKeyspace();
        long[] History(params string[] flags) => [.. ks.Execute(["MCMETAGET", "k", "-", "-", "-", "", .. flags]).Items!.Skip(6).Take(2).Select(r => r.Integer)];
        ks.Execute("MCSTORE", "k", "v", "set", "0", "0");
        _time.Advance(TimeSpan.FromSeconds(5));
        Assert.Equal([0, 5], History("U"));
        Assert.Equal([0, 5], History());   // the first fetch marks it fetched
        _time.Advance(TimeSpan.FromSeconds(3));
        Assert.Equal([1, 8], History("U"));
        Assert.Equal([1, 8], History());   // a later fetch refreshes the access time
        Assert.Equal([1, 0], History("U"));
        _time.Advance(TimeSpan.FromSeconds(2));
        Assert.Equal([1, 2], History("U"));
        ks.Execute("MCSTORE", "k", "w", "set", "0", "0");
        Assert.Equal([0, 0], History("U"));
    }

    [Fact]
    public void Incr_wraps_decr_floors_and_a_shorter_number_is_padded_as_memcached_rewrites_in_place()
    {
        var ks = NewKeyspace();
        ks.Execute("MCSTORE", "n", "100", "set", "3", "0");
        Assert.Equal(CacheReply.Bulk("99"), ks.Execute("MCINCR", "n", "decr", "1"));
        Assert.Equal("99 ", ks.Execute("MCGET", "n").Items![0].Text);
        Assert.Equal(3, ks.Execute("MCGET", "n").Items![1].Integer);
        Assert.Equal(CacheReply.Bulk("0"), ks.Execute("MCINCR", "n", "decr", "1000"));
        ks.Execute("MCSTORE", "n", "18446744073709551615", "set", "0", "0");
        Assert.Equal(CacheReply.Bulk("1"), ks.Execute("MCINCR", "n", "incr", "2"));
        ks.Execute("MCSTORE", "n", "-5", "set", "0", "0");
        Assert.Equal(CacheReply.Error(CacheKeyspace.MemcachedNonNumeric), ks.Execute("MCINCR", "n", "incr", "1"));
        Assert.Equal(CacheReply.Status("NOT_FOUND"), ks.Execute("MCINCR", "missing", "incr", "1"));
    }

    [Theory]
    [InlineData("5", true, 5UL)]
    [InlineData(" 5", true, 5UL)]
    [InlineData("+5", true, 5UL)]
    [InlineData("5 x", true, 5UL)]
    [InlineData("-0", true, 0UL)]
    [InlineData("-18446744073709551615", true, 1UL)]
    [InlineData("-5", false, 0UL)]
    [InlineData("", false, 0UL)]
    [InlineData("12abc", false, 0UL)]
    [InlineData("18446744073709551616", false, 0UL)]
    [InlineData("0x5", false, 0UL)]
    public void Numbers_are_read_as_memcached_reads_them(string text, bool valid, ulong expected)
    {
        Assert.Equal(valid, CacheKeyspace.TryParseMemcachedNumber(text, out var value));
        if (valid)
        {
            Assert.Equal(expected, value);
        }
    }

    [Fact]
    public void Memcached_writes_on_other_types_are_refused_and_change_nothing()
    {
        var ks = NewKeyspace();
        ks.Execute("HSET", "h", "f", "v");
        Assert.True(ks.Execute("MCGET", "h").IsNil);
        Assert.Equal(CacheReply.Status("NOT_STORED"), ks.Execute("MCSTORE", "h", "x", "add", "0", "0"));
        Assert.Equal(CacheReply.Error(CacheKeyspace.MemcachedWrongType), ks.Execute("MCSTORE", "h", "x", "append", "0", "0"));
        Assert.Equal(CacheReply.Error(CacheKeyspace.MemcachedWrongType), ks.Execute("MCINCR", "h", "incr", "1"));
        Assert.Equal(CacheReply.Bulk("v"), ks.Execute("HGET", "h", "f"));
        Assert.Equal(CacheReply.Status("STORED"), ks.Execute("MCSTORE", "h", "x", "set", "0", "0"));
        Assert.Equal(CacheReply.Bulk("x"), ks.Execute("GET", "h"));
    }

    private CacheKeyspace NewKeyspace() => new(new CacheKeyspaceOptions(), _time);
}
