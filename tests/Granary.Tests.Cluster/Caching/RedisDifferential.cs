using System.Globalization;
using Granary.Caching;
using StackExchange.Redis;

namespace Granary.Tests.Cluster.Caching;

/// <summary>
/// A seeded random workload over a small key space that touches every supported command, every
/// type (keys are shared between types, so wrong-type calls happen), TTLs and malformed arguments;
/// and the rules for comparing a Granary reply with Redis's.
/// </summary>
public static class RedisDifferential
{
    private static readonly string[] Values = ["a", "b", "hello", "1", "2", "10", "-3", "0", "x y", "1.5", "abc", "99"];
    private static readonly string[] Scores = ["1", "2", "-1", "0", "1.5", "2.5", "3", "+inf", "-inf", "abc", "10", "0.5", "1e400", "0x10", "-0", "1e-310"];
    private static readonly string[] Fields = ["f1", "f2", "f3", "n"];
    private static readonly string[] Members = ["m1", "m2", "m3", "m4", "m5"];
    private static readonly string[] Counts = ["0", "1", "2", "3", "-1", "x"];
    private static readonly string[] Indexes = ["0", "1", "-1", "2", "-2", "5", "-10", "z"];

    /// <summary>Generates <paramref name="count"/> commands from <paramref name="seed"/>.</summary>
    public static List<string[]> Generate(int seed, int count, int keys = 4, string prefix = "diff:")
    {
        var random = new Random(seed);
        string[] families = ["s", "h", "l", "t", "z"];
        string Key() => prefix + families[random.Next(families.Length)] + random.Next(keys).ToString(CultureInfo.InvariantCulture);
        string KeyOf(string family) => random.Next(16) == 0 ? Key() : prefix + family + random.Next(keys).ToString(CultureInfo.InvariantCulture);
        string Pick(string[] from) => from[random.Next(from.Length)];
        string Num(int min, int max) => random.Next(min, max).ToString(CultureInfo.InvariantCulture);
        string Half() => (random.Next(-20, 21) / 2.0).ToString(CultureInfo.InvariantCulture);

        var commands = new List<string[]>(count);
        while (commands.Count < count)
        {
            var op = random.Next(62);
            var k = KeyOf(op switch
            {
                < 32 => "s",
                < 40 => "h",
                < 48 => "l",
                < 53 => "t",
                _ => "z",
            });
            string[] command = op switch
            {
                0 or 1 or 2 => ["SET", k, Pick(Values)],
                3 => ["SET", k, Pick(Values), "EX", Num(100, 1000)],
                4 => ["SET", k, Pick(Values), "PX", Num(100_000, 900_000)],
                5 => ["SET", k, Pick(Values), "NX"],
                6 => ["SET", k, Pick(Values), "XX", "GET"],
                7 => ["SET", k, Pick(Values), "KEEPTTL"],
                8 => random.Next(5) switch
                {
                    0 => ["SET", k, "v", "EX", "0"],
                    1 => ["SET", k, "v", "EX", "abc"],
                    2 => ["SET", k, "v", "NX", "XX"],
                    3 => ["SET", k, "v", "BOGUS"],
                    _ => ["SET", k, "v", "EX", "10", "PX", "100"],
                },
                9 or 10 => ["GET", k],
                11 => ["GETSET", k, Pick(Values)],
                12 => ["GETDEL", k],
                13 or 14 => ["INCR", k],
                15 => ["DECR", k],
                16 => ["INCRBY", k, random.Next(4) == 0 ? "x1" : Num(-50, 50)],
                17 => ["DECRBY", k, Num(-50, 50)],
                18 => ["INCRBYFLOAT", k, random.Next(5) switch { 0 => "nope", 1 => Pick(["0.1", "1e-20", "0.3333333333333333333", "1e400", "-1e20"]), _ => Half() }],
                19 => ["APPEND", k, Pick(Values)],
                20 => ["STRLEN", k],
                21 => ["MGET", k, Key(), Key()],
                22 => ["MSET", k, Pick(Values), Key(), Pick(Values)],
                23 => ["DEL", Key(), Key()],
                24 => ["EXISTS", k, Key(), k],
                25 => ["EXPIRE", k, random.Next(6) == 0 ? Num(-5, 1) : Num(100, 1000)],
                26 => ["EXPIRE", k, Num(50, 2000), Pick(["NX", "XX", "GT", "LT"])],
                27 => ["PEXPIRE", k, Num(100_000, 2_000_000)],
                28 => ["TTL", k],
                29 => ["PTTL", k],
                30 => ["PERSIST", k],
                31 => ["TYPE", k],
                32 or 33 => ["HSET", k, Pick(Fields), Pick(Values), Pick(Fields), Pick(Values)],
                34 => ["HGET", k, Pick(Fields)],
                35 => ["HDEL", k, Pick(Fields), Pick(Fields)],
                36 => ["HGETALL", k],
                37 => ["HINCRBY", k, Pick(Fields), random.Next(5) == 0 ? "q" : Num(-10, 10)],
                38 => ["HLEN", k],
                39 => ["HEXISTS", k, Pick(Fields)],
                40 or 41 => [random.Next(2) == 0 ? "LPUSH" : "RPUSH", k, Pick(Values), Pick(Values)],
                42 => [random.Next(2) == 0 ? "LPOP" : "RPOP", k],
                43 => [random.Next(2) == 0 ? "LPOP" : "RPOP", k, Pick(Counts)],
                44 => ["LRANGE", k, Pick(Indexes), Pick(Indexes)],
                45 => ["LLEN", k],
                46 => ["LINDEX", k, Pick(Indexes)],
                47 => ["LREM", k, Pick(["0", "1", "-1", "2", "-2", "-9223372036854775808", "9223372036854775807"]), Pick(Values)],
                48 or 49 => ["SADD", k, Pick(Values), Pick(Values)],
                50 => ["SREM", k, Pick(Values)],
                51 => ["SMEMBERS", k],
                52 => random.Next(2) == 0 ? ["SISMEMBER", k, Pick(Values)] : ["SCARD", k],
                53 or 54 => ZAdd(random, k, Pick, Scores, Members),
                55 => ["ZREM", k, Pick(Members), Pick(Members)],
                56 => ["ZSCORE", k, Pick(Members)],
                57 => ["ZINCRBY", k, Pick(Scores), Pick(Members)],
                58 => random.Next(3) switch
                {
                    0 => ["ZRANGE", k, Pick(Indexes), Pick(Indexes)],
                    1 => ["ZRANGE", k, Pick(Indexes), Pick(Indexes), "WITHSCORES"],
                    _ => ["ZRANGE", k, Pick(Indexes), Pick(Indexes), "REV", "WITHSCORES"],
                },
                59 => random.Next(4) switch
                {
                    0 => ["ZRANGEBYSCORE", k, Pick(["-inf", "0", "(1", "1.5"]), Pick(["+inf", "2", "(3", "10"])],
                    1 => ["ZRANGEBYSCORE", k, Pick(["-inf", "0", "(1"]), Pick(["+inf", "(3"]), "WITHSCORES", "LIMIT", Num(0, 3), Num(-1, 3)],
                    2 => ["ZRANGE", k, Pick(["+inf", "3", "(2"]), Pick(["-inf", "0", "(1"]), "BYSCORE", "REV"],
                    _ => ["ZRANGE", k, Pick(["-inf", "0", "x"]), Pick(["+inf", "(3"]), "BYSCORE", "LIMIT", Num(0, 2), Num(1, 3)],
                },
                60 => ["ZRANK", k, Pick(Members)],
                _ => ["ZCARD", k],
            };
            commands.Add(command);
        }

        return commands;
    }

    /// <summary>
    /// Fixed commands at the edges of Redis's number rules (64-bit extremes, float overflow and
    /// underflow, hexadecimal input, long double sums and their printing), run in order on keys
    /// under <paramref name="prefix"/>.
    /// </summary>
    public static List<string[]> EdgeCases(string prefix = "edge:")
    {
        const string Min = "-9223372036854775808";
        const string Max = "9223372036854775807";
        string l = prefix + "l", s = prefix + "s", n = prefix + "n", h = prefix + "h", f = prefix + "f", z = prefix + "z";
        List<string[]> commands =
        [
            ["RPUSH", l, "a", "b", "a", "c", "a"], ["LREM", l, Min, "a"], ["LRANGE", l, "0", "-1"],
            ["RPUSH", l, "a", "b", "a"], ["LREM", l, Max, "a"], ["LREM", l, Min, "zz"],
            ["LRANGE", l, Min, Max], ["LRANGE", l, Max, Min], ["LINDEX", l, Min], ["LINDEX", l, Max],
            ["LPOP", l, Min], ["RPOP", l, Max], ["RPUSH", l, "x"],
            ["EXPIRE", l, Min], ["EXPIRE", l, Max], ["EXPIRE", l, "9223372036854775"], ["PEXPIRE", l, Max], ["PEXPIRE", l, Min], ["EXISTS", l],
            ["SET", s, "v", "EXAT", Max], ["SET", s, "v", "EX", Max], ["SET", s, "v", "PX", Max], ["SET", s, "v", "EX", Min], ["SET", s, "v", "PXAT", Max],
            ["INCRBY", n, Max], ["INCRBY", n, "1"], ["DECRBY", n, Min], ["INCRBY", n, Min], ["DECRBY", n, Max], ["DECR", n], ["INCRBY", n, "9223372036854775808"],
            ["HINCRBY", h, "f", Max], ["HINCRBY", h, "f", "1"], ["HINCRBY", h, "g", Min], ["HINCRBY", h, "g", "-1"],
            ["SCAN", "0", "COUNT", Min], ["SCAN", "0", "COUNT", "0"],
        ];

        foreach (var increment in new[] { "0.1", "0.2", "1e-20", "1e20", "0x10", "0x1.8p1", "-.5e1", "3.0e3", "-0.0", "1e-400", "0.333333333333333333333333", "123456789.123456789", "0.000003814697265625", "1.7976931348623157e308", "1.7976931348623157e308", "1e400", "1.2e4932", "1e-5000", " 1", "5e-1 ", "0x", "1e", ".", "nan", "infinity", "-1e4000" })
        {
            commands.Add(["INCRBYFLOAT", f, increment]);
        }

        commands.Add(["SET", f, "99999999999999999999"]);
        commands.Add(["INCRBYFLOAT", f, "1"]);
        commands.Add(["SET", f, "10"]);
        commands.Add(["INCRBYFLOAT", f, "5.0e3"]);

        var member = 0;
        foreach (var score in new[] { "1e400", "-1e400", "1e-400", "1e-310", "0x1p-1074", "-1e-320", "0x10", " 5", "5 ", ".5", "5.", "+5", "inf", "Infinity", "-INF", "nan", "", "1.00000762939453125", "1e-05", "2.5e-5", "0.0001", "1e16", "12345678901234567", "1e17", "123456789012345678", "-0", "0.1", "1e308" })
        {
            var name = "m" + (member++).ToString(CultureInfo.InvariantCulture);
            commands.Add(["ZADD", z, score, name]);
            commands.Add(["ZSCORE", z, name]);
            commands.Add(["ZINCRBY", z + "i", score, name]);
            commands.Add(["ZADD", z + "x", "INCR", score, name]);
        }

        commands.AddRange(
        [
            ["ZINCRBY", z, "1e308", "m27"], ["ZINCRBY", z, "-inf", "m27"], ["ZADD", z, "INCR", "nan", "m0"],
            ["ZRANGE", z, "0", "-1", "WITHSCORES"], ["ZRANGE", z, Min, Max, "WITHSCORES"], ["ZRANGE", z, "-3", Max, "REV", "WITHSCORES"],
            ["ZRANGEBYSCORE", z, " 5", "1e400", "WITHSCORES"], ["ZRANGEBYSCORE", z, "", "(1e400"], ["ZRANGEBYSCORE", z, "nan", "1"],
            ["ZRANGEBYSCORE", z, "(nan", "1"], ["ZRANGEBYSCORE", z, "((1", "1"], ["ZRANGEBYSCORE", z, "(", "("], ["ZRANGEBYSCORE", z, "-", "+"],
            ["ZRANGEBYSCORE", z, " ", "1"], ["ZRANGEBYSCORE", z, "0x1", "2"], ["ZRANGEBYSCORE", z, "1e-400", "2", "WITHSCORES"],
            ["ZRANGEBYSCORE", z, "-inf", "+inf", "LIMIT", Min, Min], ["ZRANGEBYSCORE", z, "-inf", "+inf", "LIMIT", Max, Max],
            ["ZRANGEBYSCORE", z, "-inf", "+inf", "LIMIT", "1", Min], ["ZRANGE", z, "(1", "+inf", "BYSCORE", "LIMIT", "0", Max, "WITHSCORES"],
        ]);
        return commands;
    }

    /// <summary>
    /// Keys and KEYS patterns for comparing glob matching with Redis: short strings over an alphabet rich in
    /// the characters that matter to the matcher (<c>* ? [ ] ^ - \</c>), with a two-byte UTF-8 character, so
    /// that escapes, classes, ranges, unterminated classes and byte-wise matching all occur.
    /// </summary>
    public static (List<string> Keys, List<string> Patterns) GlobCases(int seed, int keys, int patterns)
    {
        var random = new Random(seed);
        string[] keyAlphabet = ["a", "b", "c", "x", "Z", "-", "]", "[", "^", "*", "?", "\\", "é", ":"];
        string[] patternAlphabet = ["a", "b", "c", "x", "Z", "-", "]", "[", "^", "*", "*", "*", "?", "\\", "é", ":", "[a-c]", "[^a]", "[b-", "\\*", "[]", "**"];
        string Build(string[] alphabet, int min, int max)
        {
            var length = random.Next(min, max + 1);
            return string.Concat(Enumerable.Range(0, length).Select(_ => alphabet[random.Next(alphabet.Length)]));
        }

        var keyList = Enumerable.Range(0, keys).Select(_ => Build(keyAlphabet, 1, 8)).Distinct(StringComparer.Ordinal).ToList();
        var patternList = Enumerable.Range(0, patterns).Select(_ => Build(patternAlphabet, 0, 7)).ToList();
        patternList.AddRange(["*", "**", "", "[", "[^", "\\", "a\\", "[a-]", "[a-]x", "[\\]]", "[]a]", "?", "??", "[a-é]", "[é-a]", "*é", "[^é]*", "*a*a*a*a*b"]);
        return (keyList, patternList);
    }

    private static string[] ZAdd(Random random, string key, Func<string[], string> pick, string[] scores, string[] members)
    {
        var command = new List<string> { "ZADD", key };
        switch (random.Next(8))
        {
            case 0: command.Add("NX"); break;
            case 1: command.Add("XX"); break;
            case 2: command.Add("CH"); break;
            case 3: command.Add("GT"); break;
            case 4: command.AddRange(["LT", "CH"]); break;
            case 5: command.Add("INCR"); break;
            case 6: command.AddRange(["NX", "GT"]); break;
            default: break;
        }

        var pairs = random.Next(1, 3);
        for (var i = 0; i < pairs; i++)
        {
            command.Add(pick(scores));
            command.Add(pick(members));
        }

        return [.. command];
    }

    /// <summary>Runs a command on Redis and turns the answer into a <see cref="CacheReply"/>.</summary>
    public static async Task<CacheReply> ExecuteOnRedisAsync(IDatabase db, string[] command)
    {
        try
        {
            var result = await db.ExecuteAsync(command[0], command.Skip(1).Cast<object>().ToArray());
            return Convert(result);
        }
        catch (RedisServerException ex)
        {
            return CacheReply.Error(ex.Message);
        }
    }

    private static CacheReply Convert(RedisResult result)
    {
        switch (result.Resp2Type)
        {
            case ResultType.Integer:
                return CacheReply.Int((long)result);
            case ResultType.SimpleString:
                return CacheReply.Status(result.ToString());
            case ResultType.Error:
                return CacheReply.Error(result.ToString());
            case ResultType.BulkString:
                return result.IsNull ? CacheReply.Nil : CacheReply.Bulk((string?)result);
            case ResultType.Array:
                if (result.IsNull)
                {
                    return CacheReply.NilArray;
                }

                var items = (RedisResult[])result!;
                return CacheReply.Array([.. items.Select(Convert)]);
            default:
                return CacheReply.Error("unexpected reply type " + result.Resp2Type);
        }
    }

    /// <summary>
    /// Null when the replies agree; otherwise why not. Unordered replies (SMEMBERS, HGETALL) are
    /// compared as sets; TTL within 1 s and PTTL within 1,000 ms (the two clocks run apart).
    /// </summary>
    public static string? Difference(string[] command, CacheReply ours, CacheReply redis)
    {
        var name = command[0].ToUpperInvariant();
        if (name is "TTL" or "PTTL" && ours.Kind == CacheReplyKind.Integer && redis.Kind == CacheReplyKind.Integer && ours.Integer >= 0 && redis.Integer >= 0)
        {
            var tolerance = name == "TTL" ? 1 : 1000;
            return Math.Abs(ours.Integer - redis.Integer) <= tolerance ? null : Describe(ours, redis);
        }

        if (name is "SMEMBERS" or "HGETALL" && ours.Items is not null && redis.Items is not null)
        {
            return Canonical(name, ours).SequenceEqual(Canonical(name, redis), StringComparer.Ordinal) ? null : Describe(ours, redis);
        }

        return ours.Equals(redis) ? null : Describe(ours, redis);
    }

    private static IEnumerable<string> Canonical(string name, CacheReply reply)
    {
        var texts = reply.Items!.Select(i => i.Text ?? "(nil)").ToList();
        if (name == "HGETALL")
        {
            texts = [.. texts.Chunk(2).Select(pair => pair[0] + "=" + pair[1])];
        }

        return texts.Order(StringComparer.Ordinal);
    }

    private static string Describe(CacheReply ours, CacheReply redis) =>
        $"granary: {ours.ToString().ReplaceLineEndings(" | ")}  redis: {redis.ToString().ReplaceLineEndings(" | ")}";
}
