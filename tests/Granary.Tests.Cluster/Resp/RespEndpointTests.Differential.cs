using System.Globalization;
using System.Text;
using Granary.Caching;
using Granary.Tests.Cluster.Caching;

namespace Granary.Tests.Cluster.Resp;

/// <summary>The same seeded command streams over the wire to redis-server and to the RESP endpoint: the reply bytes match.</summary>
public sealed partial class RespEndpointTests
{
    private const int DifferentialCommands = 600;
    private const int PipelineDepth = 40;
    private const int RedisDatabase = 9;

    [Theory]
    [InlineData(2, false)]
    [InlineData(2, true)]
    [InlineData(3, false)]
    [InlineData(3, true)]
    public async Task Replies_match_redis_server_byte_for_byte(int protocol, bool pipelined)
    {
        await using var redis = await RespWire.ConnectAsync(servers.Redis.Port);
        Assert.Equal("+OK\r\n", await redis.CallTextAsync("AUTH", servers.Redis.Password));
        Assert.Equal("+OK\r\n", await redis.CallTextAsync("SELECT", RedisDatabase.ToString(CultureInfo.InvariantCulture)));
        Assert.Equal("+OK\r\n", await redis.CallTextAsync("FLUSHDB"));
        await using var granary = await resp.ConnectAsync();
        foreach (var wire in new[] { redis, granary })
        {
            Assert.StartsWith(protocol == 3 ? "%" : "*", await wire.CallTextAsync("HELLO", protocol.ToString(CultureInfo.InvariantCulture)), StringComparison.Ordinal);
        }

        // One hash tag for every key: they share a slot, so a shard, and the commands whose keys must share a
        // shard (RENAME, SINTER, LMPOP, ...) run as on redis-server. The wire comparison is byte for byte:
        // commands that draw at random (compared by property in the engine's differential test) are left out.
        var prefix = $"{{wire{protocol}{(pipelined ? "p" : "s")}:{Guid.NewGuid():N}}}:";
        var commands = RedisDifferential.Generate(seed: 21_000 + (protocol * 10) + (pipelined ? 1 : 0), DifferentialCommands, prefix: prefix)
            .Where(c => c[0] is not ("SPOP" or "SRANDMEMBER" or "HRANDFIELD"))
            .ToList();
        commands.AddRange(
        [
            ["SETEX", prefix + "x", "100", "v"], ["TTL", prefix + "x"], ["SETEX", prefix + "x", "0", "v"], ["SETEX", prefix + "x", "-5", "v"], ["SETEX", prefix + "x", "ten", "v"],
            ["PSETEX", prefix + "y", "100000", "w"], ["PTTL", prefix + "y"], ["PSETEX", prefix + "y", "0", "w"], ["SETEX", prefix + "x", "1"],
            ["SETNX", prefix + "x", "other"], ["SETNX", prefix + "z", "new"], ["GET", prefix + "z"], ["HSET", prefix + "h", "f", "v"], ["HMSET", prefix + "h", "g", "w", "f", "u"], ["HMSET", prefix + "h", "g"], ["HMSET", prefix + "h", "g", "w", "x"], ["HMSET", prefix + "x", "f", "v"], ["HGETALL", prefix + "h"], ["SETNX", prefix + "h", "v"], ["SETEX", prefix + "h", "10", "v"], ["TYPE", prefix + "h"],
        ]);
        var mismatches = new List<string>();
        var errors = 0;
        foreach (var chunk in commands.Chunk(pipelined ? PipelineDepth : 1))
        {
            await redis.SendAsync(chunk);
            await granary.SendAsync(chunk);
            foreach (var command in chunk)
            {
                var theirs = await redis.ReadReplyAsync();
                var ours = await granary.ReadReplyAsync();
                errors += theirs[0] == (byte)'-' ? 1 : 0;

                // A numkeys count that takes an argument outside the tag for a key (LMPOP 3 {t}a {t}b LEFT):
                // Redis Cluster refuses it with CROSSSLOT before parsing, as Granary does; redis-server here is standalone.
                var keysLeaveTheTag = CacheCommandTable.Resolve(command) is { } info && info.Keys(command).Any(k => !k.StartsWith(prefix, StringComparison.Ordinal));
                if (keysLeaveTheTag && Encoding.UTF8.GetString(ours) == $"-{RedisText.CrossSlot}\r\n")
                {
                    continue;
                }

                if (WireDifference(command, ours, theirs) is { } difference)
                {
                    mismatches.Add($"{string.Join(' ', command)} => {difference}");
                }
            }
        }

        output.WriteLine($"RESP{protocol} {(pipelined ? $"pipelined by {PipelineDepth}" : "one at a time")}: {commands.Count} commands, {errors} error replies, {mismatches.Count} mismatches");
        foreach (var mismatch in mismatches.Take(20))
        {
            output.WriteLine(mismatch);
        }

        Assert.True(errors > 10, "the workload should exercise error replies");
        Assert.Empty(mismatches);
    }

    /// <summary>
    /// Null when the replies are the same bytes. Two allowances, both about what differs between two servers
    /// rather than how it is written: TTL/PTTL and EXPIRETIME/PEXPIRETIME may differ by the time between the two
    /// calls, and the elements of SMEMBERS/SINTER/SUNION/SDIFF/HGETALL/HKEYS/HVALS (unordered in Redis too) may come in another order (the headers must still match).
    /// </summary>
    private static string? WireDifference(string[] command, byte[] ours, byte[] theirs)
    {
        if (ours.AsSpan().SequenceEqual(theirs))
        {
            return null;
        }

        var name = command[0].ToUpperInvariant();
        var (ourText, theirText) = (Encoding.UTF8.GetString(ours), Encoding.UTF8.GetString(theirs));
        if (name is "TTL" or "PTTL" or "EXPIRETIME" or "PEXPIRETIME" && ourText.StartsWith(':') && theirText.StartsWith(':')
            && long.TryParse(ourText.AsSpan(1).Trim(), CultureInfo.InvariantCulture, out var ourTtl) && long.TryParse(theirText.AsSpan(1).Trim(), CultureInfo.InvariantCulture, out var theirTtl)
            && ourTtl >= 0 && theirTtl >= 0 && Math.Abs(ourTtl - theirTtl) <= (name is "TTL" or "EXPIRETIME" ? 1 : 1000))
        {
            return null;
        }

        if (name is "SMEMBERS" or "SINTER" or "SUNION" or "SDIFF" or "HGETALL" or "HKEYS" or "HVALS" && Elements(ourText, name) is { } ourElements && Elements(theirText, name) is { } theirElements
            && ourElements.Header == theirElements.Header && ourElements.Items.SequenceEqual(theirElements.Items, StringComparer.Ordinal))
        {
            return null;
        }

        return $"granary: {Escape(ourText)}  redis: {Escape(theirText)}";
    }

    /// <summary>The header line and the sorted elements (field=value pairs for HGETALL) of a flat aggregate of bulk strings.</summary>
    private static (string Header, List<string> Items)? Elements(string reply, string name)
    {
        var lines = reply.Split("\r\n");
        if (lines.Length < 1 || lines[0].Length == 0 || lines[0][0] is not ('*' or '~' or '%'))
        {
            return null;
        }

        var values = new List<string>();
        for (var i = 2; i < lines.Length; i += 2)
        {
            values.Add(lines[i]);
        }

        var items = name == "HGETALL" ? values.Chunk(2).Select(p => string.Join('=', p)).ToList() : values;
        items.Sort(StringComparer.Ordinal);
        return (lines[0], items);
    }

    private static string Escape(string text) => text.Replace("\r\n", "\\r\\n", StringComparison.Ordinal);
}
