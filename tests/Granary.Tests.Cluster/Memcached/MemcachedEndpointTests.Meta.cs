using System.Text;
using Granary.Server.Memcached;

namespace Granary.Tests.Cluster.Memcached;

/// <summary>The meta commands compared byte for byte with a real memcached, and the cases a differential stream cannot show.</summary>
public sealed partial class MemcachedEndpointTests
{
    private const int MetaDifferentialCommands = 600;

    [Theory]
    [InlineData(1)]
    [InlineData(8)]
    public async Task Meta_command_replies_match_memcached_byte_for_byte(int pipelineDepth)
    {
        await using var memcached = await MemcachedWire.ConnectAsync(fixture.Memcached.Port);
        await using var granary = await fixture.ConnectAsync();
        var prefix = $"meta{pipelineDepth}:{Guid.NewGuid():N}:";
        var commands = MemcachedMetaDifferential.Generate(seed: 3100 + pipelineDepth, MetaDifferentialCommands, prefix, pipelined: pipelineDepth > 1);
        var theirNames = new Dictionary<(string, ulong), int>();
        var ourNames = new Dictionary<(string, ulong), int>();
        var theirSeen = new Dictionary<string, List<ulong>>(StringComparer.Ordinal);
        var ourSeen = new Dictionary<string, List<ulong>>(StringComparer.Ordinal);
        var mismatches = new List<string>();
        var codes = new HashSet<string>(StringComparer.Ordinal);
        var marks = new HashSet<string>(StringComparer.Ordinal);
        foreach (var chunk in commands.Chunk(pipelineDepth))
        {
            var theirs = MemcachedMetaDifferential.Normalize(Encoding.UTF8.GetString(await memcached.CallAsync(string.Concat(chunk.Select(c => MemcachedDifferential.Resolve(c, theirSeen))))), theirNames, theirSeen);
            var ours = MemcachedMetaDifferential.Normalize(Encoding.UTF8.GetString(await granary.CallAsync(string.Concat(chunk.Select(c => MemcachedDifferential.Resolve(c, ourSeen))))), ourNames, ourSeen);
            foreach (var line in theirs.Split("\r\n"))
            {
                codes.Add(line.Split(' ')[0]);
                marks.UnionWith(line.Split(' ').Skip(1).Where(word => word is "W" or "X" or "Z" or "b"));
            }

            if (theirs != ours)
            {
                mismatches.Add($"{string.Concat(chunk).Replace("\r\n", "\\r\\n", StringComparison.Ordinal)}\n  memcached: {theirs.Replace("\r\n", "\\r\\n", StringComparison.Ordinal)}\n  granary:   {ours.Replace("\r\n", "\\r\\n", StringComparison.Ordinal)}");
            }
        }

        output.WriteLine($"pipeline depth {pipelineDepth}: {commands.Count} commands, reply codes {string.Join(',', codes.Order(StringComparer.Ordinal))}, {theirNames.Count} cas uniques, {mismatches.Count} mismatching chunks");
        foreach (var mismatch in mismatches.Take(15))
        {
            output.WriteLine(mismatch);
        }

        foreach (var code in new[] { "HD", "VA", "EN", "NF", "NS", "EX", "MN", "ME", "CLIENT_ERROR", "ERROR" })
        {
            Assert.True(codes.Contains(code), $"the workload should produce a {code} reply");
        }

        Assert.True(theirNames.Count > 10, "the workload should exercise cas uniques");
        if (pipelineDepth == 1)
        {
            Assert.Equal(["W", "X", "Z", "b"], marks.Order(StringComparer.Ordinal));
        }

        Assert.True(marks.Contains("b"), "the workload should echo keys in base64");

        Assert.Empty(mismatches);
    }

    [Fact]
    public async Task Keys_in_base64_arithmetic_with_cas_and_ttl_and_me_work_and_a_key_that_is_not_text_changes_nothing()
    {
        await using var wire = await fixture.ConnectAsync();
        var key = "metab:" + Guid.NewGuid().ToString("N");
        var b64 = Convert.ToBase64String(Encoding.UTF8.GetBytes(key));
        Assert.Equal("HD\r\n", await wire.CallTextAsync($"ms {key} 2\r\nhi\r\n"));

        // A base64 key names the same item as its text; a hit echoes the key as the item was stored.
        Assert.Equal($"VA 2 k{key}\r\nhi\r\n", await wire.CallTextAsync($"mg {b64} b v k\r\n"));
        Assert.Equal($"HD k{b64} b\r\n", await wire.CallTextAsync($"ms {b64} 2 b k\r\nyo\r\n"));
        Assert.Equal($"VA 2 k{b64} b\r\nyo\r\n", await wire.CallTextAsync($"mg {key} v k\r\n"));
        Assert.Matches($@"^ME {b64} exp=-1 la=\d+ cas=\d+ fetch=yes cls=2 size={48 + 8 + key.Length + 1 + 2 + 2}\r\n$", await wire.CallTextAsync($"me {key}\r\n"));
        Assert.Equal("CLIENT_ERROR error decoding key\r\n", await wire.CallTextAsync($"mg {b64[..^1]} b v\r\n"));
        Assert.Equal("CLIENT_ERROR invalid or duplicate flag\r\n", await wire.CallTextAsync($"md {b64[..^1]} b\r\n"));

        // Bytes that are not UTF-8 text name an item of their own, as in memcached: sent plain or in base64 alike.
        byte[] binary = [0xFF, 0xFE, .. Encoding.ASCII.GetBytes(key)];
        var binary64 = Convert.ToBase64String(binary);
        Assert.Equal($"EN k{binary64} b\r\n", await wire.CallTextAsync($"mg {binary64} b v k\r\n"));
        Assert.Equal("EN\r\n", await wire.CallTextAsync($"me {binary64} b\r\n"));
        await wire.SendAsync([.. "set "u8, .. binary, .. " 3 0 2\r\nyo\r\nget "u8, .. binary, .. "\r\nversion\r\n"u8]);
        Assert.Equal($"STORED\r\nVALUE {Encoding.Latin1.GetString(binary)} 3 2\r\nyo\r\nEND\r\n", Encoding.Latin1.GetString(await wire.ReadUntilVersionAsync()));
        Assert.Equal("VA 2 f3\r\nyo\r\n", await wire.CallTextAsync($"mg {binary64} b v f\r\n"));
        Assert.StartsWith($"ME {Encoding.Latin1.GetString(binary)} exp=-1 ", Encoding.Latin1.GetString(await wire.CallAsync($"me {binary64} b\r\n")));

        // The cache key it is stored under cannot be named by any other bytes, the text of that key included.
        var stored = MemcachedParser.KeyText(Encoding.Latin1.GetString(binary));
        Assert.Equal("END\r\n", await wire.CallTextAsync($"get {stored}\r\n"));
        await wire.SendAsync([.. "mg "u8, .. binary, .. " v\r\ndelete "u8, .. binary, .. "\r\nmg "u8, .. binary, .. " v\r\nversion\r\n"u8]);
        Assert.Equal("VA 2\r\nyo\r\nDELETED\r\nEN\r\n", Encoding.Latin1.GetString(await wire.ReadUntilVersionAsync()));
        Assert.Equal("VA 2 t-1\r\nyo\r\n", await wire.CallTextAsync($"mg {key} v t\r\n"));
        Assert.Equal("EN\r\n", await wire.CallTextAsync($"mg {key}:new v\r\n"));

        // ma: T sets the TTL where it stands among the flags, C compares the CAS unique (EX changes nothing).
        Assert.Equal("HD t-1\r\n", await wire.CallTextAsync($"ma {key}:n N0 t T30\r\n"));
        Assert.Equal("VA 1 t30\r\n1\r\n", await wire.CallTextAsync($"ma {key}:n T30 t v\r\n"));
        var cas = (await wire.CallTextAsync($"mg {key}:n c\r\n")).Split(' ', '\r')[1][1..];
        Assert.Equal("EX\r\n", await wire.CallTextAsync($"ma {key}:n C{ulong.Parse(cas, System.Globalization.CultureInfo.InvariantCulture) + 1} v\r\n"));
        Assert.Equal("VA 1\r\n2\r\n", await wire.CallTextAsync($"ma {key}:n C{cas} v\r\n"));
        Assert.Equal("EX\r\n", await wire.CallTextAsync($"ma {key}:n C{cas} v\r\n"));
        Assert.Matches(@"^VA 1 t(30|29)\r\n2\r\n$", await wire.CallTextAsync($"mg {key}:n v t\r\n"));
    }

    [Fact]
    public async Task A_key_written_through_another_door_with_a_space_or_line_break_comes_back_in_base64()
    {
        await using var wire = await fixture.ConnectAsync();
        var key = "door " + Guid.NewGuid().ToString("N") + "\r\nVA 1";
        await using var cache = await Granary.Client.Caching.CacheClient.ConnectAsync(fixture.Grains, MemcachedClusterFixture.CacheName);
        await cache.ExecuteAsync(["SET", key, "v"]);
        var b64 = Convert.ToBase64String(Encoding.UTF8.GetBytes(key));
        Assert.Equal($"VA 1 k{b64} b\r\nv\r\n", await wire.CallTextAsync($"mg {b64} b k v\r\n"));
        Assert.Matches($@"^ME {System.Text.RegularExpressions.Regex.Escape(b64)} exp=-1 la=\d+ cas=\d+ fetch=yes cls=\d+ size=\d+\r\n$", await wire.CallTextAsync($"me {b64} b\r\n"));
    }

    [Fact]
    public async Task A_stale_item_is_served_with_X_and_one_client_wins_the_right_to_recache_it()
    {
        await using var wire = await fixture.ConnectAsync();
        var key = "metastale:" + Guid.NewGuid().ToString("N");
        Assert.Equal("HD W\r\n", await wire.CallTextAsync($"mg {key} N30\r\n"));
        Assert.Equal("VA 0 Z\r\n\r\n", await wire.CallTextAsync($"mg {key} v\r\n"));
        Assert.Equal("HD\r\n", await wire.CallTextAsync($"ms {key} 5\r\nfresh\r\n"));
        Assert.Equal("VA 5\r\nfresh\r\n", await wire.CallTextAsync($"mg {key} v\r\n"));
        Assert.Equal("HD\r\n", await wire.CallTextAsync($"md {key} I T60\r\n"));
        Assert.StartsWith($"ME {key} exp=-", await wire.CallTextAsync($"me {key}\r\n"), StringComparison.Ordinal); // looks, takes nothing
        Assert.Equal("VA 5 t60 X W\r\nfresh\r\n", await wire.CallTextAsync($"mg {key} v t\r\n"));
        Assert.Equal("VA 5 Z X\r\nfresh\r\n", await wire.CallTextAsync($"mg {key} v\r\n"));
        Assert.Equal("HD\r\n", await wire.CallTextAsync($"ms {key} 3\r\nnew\r\n"));
        Assert.Equal("VA 3\r\nnew\r\n", await wire.CallTextAsync($"mg {key} v\r\n"));
    }

    [Fact]
    public async Task A_t_flag_reads_the_ttl_before_or_after_a_T_flag_by_their_order()
    {
        await using var wire = await fixture.ConnectAsync();
        var key = "metattl:" + Guid.NewGuid().ToString("N");
        Assert.Equal("HD\r\n", await wire.CallTextAsync($"ms {key} 1 T600\r\nx\r\n"));
        Assert.Matches(@"^HD t(600|599)\r\n$", await wire.CallTextAsync($"mg {key} t\r\n"));
        Assert.Matches(@"^HD t(600|599)\r\n$", await wire.CallTextAsync($"mg {key} t T0\r\n"));
        Assert.Equal("HD t-1\r\n", await wire.CallTextAsync($"mg {key} t\r\n"));
        Assert.Equal("HD t50\r\n", await wire.CallTextAsync($"mg {key} T50 t\r\n"));
        Assert.Matches(@"^VA 1 t(50|49)\r\nx\r\n$", await wire.CallTextAsync($"mg {key} v t\r\n"));
    }
}
