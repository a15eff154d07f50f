using System.Text;

namespace Granary.Tests.Cluster.Memcached;

/// <summary>The meta commands compared byte for byte with a real memcached, and the flags this server refuses.</summary>
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
                marks.UnionWith(line.Split(' ').Skip(1).Where(word => word is "W" or "X" or "Z"));
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

        foreach (var code in new[] { "HD", "VA", "EN", "NF", "NS", "EX", "MN", "CLIENT_ERROR", "ERROR" })
        {
            Assert.True(codes.Contains(code), $"the workload should produce a {code} reply");
        }

        Assert.True(theirNames.Count > 10, "the workload should exercise cas uniques");
        if (pipelineDepth == 1)
        {
            Assert.Equal(["W", "X", "Z"], marks.Order(StringComparer.Ordinal));
        }

        Assert.Empty(mismatches);
    }

    [Fact]
    public async Task Meta_flags_this_server_does_not_implement_are_refused_and_change_nothing()
    {
        await using var wire = await fixture.ConnectAsync();
        var key = "metarefused:" + Guid.NewGuid().ToString("N");
        Assert.Equal("HD\r\n", await wire.CallTextAsync($"ms {key} 2\r\nhi\r\n"));
        Assert.Equal("CLIENT_ERROR flag T is not supported\r\n", await wire.CallTextAsync($"ma {key}:n N0 T30\r\n"));
        Assert.Equal("CLIENT_ERROR flag C is not supported\r\n", await wire.CallTextAsync($"ma {key}:n C1\r\n"));
        Assert.Equal("CLIENT_ERROR flag b is not supported\r\n", await wire.CallTextAsync($"mg a2V5 b v\r\n"));
        Assert.Equal("CLIENT_ERROR flag b is not supported\r\n", await wire.CallTextAsync($"ms a2V5 2 b\r\nyo\r\n"));
        await wire.SendAsync([.. "mg "u8, 0xFF, 0xFE, .. " v N30\r\nmg "u8, 0xFF, 0xFE, .. " v k\r\nversion\r\n"u8]);
        Assert.Equal("CLIENT_ERROR key is not UTF-8 text (the cache stores text)\r\nEN k\u00ff\u00fe\r\n", Encoding.Latin1.GetString(await wire.ReadUntilVersionAsync()));
        Assert.Equal("VA 2 t-1\r\nhi\r\n", await wire.CallTextAsync($"mg {key} v t\r\n"));
        Assert.Equal("EN\r\n", await wire.CallTextAsync($"mg {key}:new v\r\n"));
        Assert.Equal("NF\r\n", await wire.CallTextAsync($"ma {key}:n\r\n"));
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
