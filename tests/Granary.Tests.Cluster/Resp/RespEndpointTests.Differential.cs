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
        var (redis, granary) = await ConnectBothAsync(protocol);
        await using var redisConnection = redis;
        await using var granaryConnection = granary;
        Assert.Equal("+OK\r\n", await redis.CallTextAsync("FLUSHDB"));

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
        await foreach (var (command, ours, theirs) in ExchangeAsync(redis, granary, commands, pipelined ? PipelineDepth : 1))
        {
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

        output.WriteLine($"RESP{protocol} {(pipelined ? $"pipelined by {PipelineDepth}" : "one at a time")}: {commands.Count} commands, {errors} error replies, {mismatches.Count} mismatches");
        foreach (var mismatch in mismatches.Take(20))
        {
            output.WriteLine(mismatch);
        }

        Assert.True(errors > 10, "the workload should exercise error replies");
        Assert.Empty(mismatches);
    }

    [Theory]
    [InlineData(2, false)]
    [InlineData(3, true)]
    public async Task Binary_values_keys_and_members_match_redis_server_byte_for_byte(int protocol, bool pipelined)
    {
        var (redis, granary) = await ConnectBothAsync(protocol);
        await using var redisConnection = redis;
        await using var granaryConnection = granary;

        var prefix = $"{{bin{protocol}:{Guid.NewGuid():N}}}:";
        var commands = BinaryCommands(new Random(31_000 + protocol), prefix, 500);
        var mismatches = new List<string>();
        var binaryReplies = 0;
        await foreach (var (command, ours, theirs) in ExchangeAsync(redis, granary, commands, pipelined ? PipelineDepth : 1))
        {
            binaryReplies += !System.Text.Unicode.Utf8.IsValid(theirs) || theirs.AsSpan().Contains((byte)0) ? 1 : 0;
            if (!ours.AsSpan().SequenceEqual(theirs))
            {
                mismatches.Add($"{string.Join(' ', command.Select(a => Convert.ToHexString(CacheBytes.GetBytes(a))))} => granary: {Convert.ToHexString(ours)}  redis: {Convert.ToHexString(theirs)}");
            }
        }

        output.WriteLine($"RESP{protocol}: {commands.Count} commands, {binaryReplies} replies with bytes that are not UTF-8 text, {mismatches.Count} mismatches");
        foreach (var mismatch in mismatches.Take(20))
        {
            output.WriteLine(mismatch);
        }

        Assert.True(binaryReplies > 50, "the workload should read binary values back");
        Assert.Empty(mismatches);
    }

    [Fact]
    public async Task Inline_commands_with_escapes_and_raw_bytes_match_redis_server()
    {
        var (redis, granary) = await ConnectBothAsync(2);
        await using var redisConnection = redis;
        await using var granaryConnection = granary;
        var key = $"{{inline:{Guid.NewGuid():N}}}";
        byte[][] lines =
        [
            Encoding.ASCII.GetBytes($"SET {key}a \"\\xff\\x00z\\x4\"\r\n"),
            Encoding.ASCII.GetBytes($"GET {key}a\r\n"),
            Encoding.ASCII.GetBytes($"STRLEN\v{key}a\r\n"),
            [.. Encoding.ASCII.GetBytes($"SET {key}b "), 0xc3, 0xa9, 0x80, 0xa0, (byte)'x', .. "\r\n"u8],
            Encoding.ASCII.GetBytes($"GET {key}b\r\n"),
            Encoding.ASCII.GetBytes("ECHO \"tab\\there\\n\" \r\n"),
            Encoding.ASCII.GetBytes("ECHO 'it\\'s'\r\n"),
            Encoding.ASCII.GetBytes($"SET {key}c \"a\"b\r\n"),
        ];
        foreach (var line in lines)
        {
            await redis.SendRawAsync(line);
            await granary.SendRawAsync(line);
            var theirs = await redis.ReadReplyAsync();
            Assert.Equal(Convert.ToHexString(theirs), Convert.ToHexString(await granary.ReadReplyAsync()));
        }
    }

    /// <summary>Sends <paramref name="commands"/> to both servers, <paramref name="depth"/> at a time, and gives each command with the endpoint's and redis-server's reply.</summary>
    private static async IAsyncEnumerable<(string[] Command, byte[] Ours, byte[] Theirs)> ExchangeAsync(RespWire redis, RespWire granary, IEnumerable<string[]> commands, int depth)
    {
        foreach (var chunk in commands.Chunk(depth))
        {
            await redis.SendAsync(chunk);
            await granary.SendAsync(chunk);
            foreach (var command in chunk)
            {
                var theirs = await redis.ReadReplyAsync();
                yield return (command, await granary.ReadReplyAsync(), theirs);
            }
        }
    }

    /// <summary>
    /// Commands over byte strings (values, keys, fields, members, lexicographic bounds) that are not UTF-8 text, hold
    /// zero bytes or CR LF, cut multi-byte characters, or imitate an escaped string; each argument is a cache string
    /// that <see cref="RespWire"/> sends as its bytes. Only commands with an ordered reply.
    /// </summary>
    private static List<string[]> BinaryCommands(Random random, string prefix, int count)
    {
        byte[][] fixedValues =
        [
            [0xff, 0xfe], [0x00], [0xc3], [0xa9], [0xc3, 0xa9], [(byte)'a', 0x00, (byte)'b'], "\r\n"u8.ToArray(), "é😀"u8.ToArray(),
            Encoding.UTF8.GetBytes(CacheBytes.Mark + "!"), Encoding.UTF8.GetBytes(CacheBytes.FromBytes([0x80])), "plain"u8.ToArray(), [],
        ];
        string Value()
        {
            if (random.Next(3) > 0)
            {
                return CacheBytes.FromBytes(fixedValues[random.Next(fixedValues.Length)]);
            }

            var bytes = new byte[random.Next(1, 12)];
            random.NextBytes(bytes);
            return CacheBytes.FromBytes(bytes);
        }

        string Key(string kind) => CacheBytes.Concat(prefix + kind, CacheBytes.FromBytes(random.Next(2) == 0 ? [0xff] : [0x00, (byte)'k']));
        string Number(int max) => random.Next(-max, max).ToString(CultureInfo.InvariantCulture);
        string Bound() => random.Next(6) switch { 0 => "-", 1 => "+", 2 => CacheBytes.Concat("(", Value()), _ => CacheBytes.Concat("[", Value()) };

        var commands = new List<string[]>();
        for (var i = 0; i < count; i++)
        {
            var (s, h, z, l, set) = (Key("s"), Key("h"), Key("z"), Key("l"), Key("t"));
            commands.Add(random.Next(20) switch
            {
                0 => ["SET", s, Value()],
                1 => ["GET", s],
                2 => ["APPEND", s, Value()],
                3 => ["STRLEN", s],
                4 => ["GETRANGE", s, Number(8), Number(8)],
                5 => ["SETRANGE", s, random.Next(0, 12).ToString(CultureInfo.InvariantCulture), Value()],
                6 => ["GETSET", s, Value()],
                7 => ["MSET", s, Value(), Key("m"), Value()],
                8 => ["MGET", s, Key("m"), Key("absent")],
                9 => ["HSET", h, Value(), Value()],
                10 => ["HGET", h, Value()],
                11 => ["ZADD", z, "0", Value()],
                12 => ["ZRANGEBYLEX", z, Bound(), Bound()],
                13 => ["ZLEXCOUNT", z, Bound(), Bound()],
                14 => ["ZRANGE", z, "0", "-1"],
                15 => ["RPUSH", l, Value()],
                16 => ["LRANGE", l, "0", "-1"],
                17 => ["SADD", set, Value()],
                18 => ["SMISMEMBER", set, Value(), Value()],
                _ => ["INCR", s],
            });
        }

        return commands;
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
