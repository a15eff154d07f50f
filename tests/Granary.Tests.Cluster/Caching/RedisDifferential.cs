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
            var op = random.Next(100);
            var k = KeyOf(op switch
            {
                < 32 => "s",
                < 40 => "h",
                < 48 => "l",
                < 53 => "t",
                < 62 => "z",
                < 70 => "s",
                < 75 => families[random.Next(families.Length)],
                < 80 => "h",
                < 86 => "l",
                < 93 => "t",
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
                23 => [random.Next(4) == 0 ? "UNLINK" : "DEL", Key(), Key()],
                24 => ["EXISTS", k, Key(), k],
                25 => ["EXPIRE", k, random.Next(6) == 0 ? Num(-5, 1) : Num(100, 1000)],
                26 => ["EXPIRE", k, Num(50, 2000), Pick(["NX", "XX", "GT", "LT"])],
                27 => ["PEXPIRE", k, Num(100_000, 2_000_000)],
                28 => ["TTL", k],
                29 => ["PTTL", k],
                30 => ["PERSIST", k],
                31 => ["TYPE", k],
                32 => ["HSET", k, Pick(Fields), Pick(Values), Pick(Fields), Pick(Values)],
                33 => ["HMSET", k, Pick(Fields), Pick(Values), Pick(Fields), Pick(Values)],
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
                61 => ["ZCARD", k],
                62 => ["GETEX", k, .. random.Next(7) switch
                {
                    0 => (string[])["EX", Num(100, 1000)],
                    1 => ["PXAT", Num(100, 900) + "0000000000000"],
                    2 => ["PERSIST"],
                    3 => [Pick(["EX", "PX", "EXAT"]), Pick(["0", "-1", "x"])],
                    4 => ["PERSIST", "EX", "5"],
                    5 => ["EXAT", "1"],
                    _ => [],
                }],
                63 => ["GETRANGE", k, Pick(Indexes), Pick(Indexes)],
                64 => ["SETRANGE", k, "0", Pick(Values)],
                65 => ["SETNX", k, Pick(Values)],
                66 => random.Next(2) == 0 ? ["SETEX", k, Pick(["0", "-5", "x", "100", "500"]), Pick(Values)] : ["PSETEX", k, Pick(["0", "x", "100000", "500000"]), Pick(Values)],
                67 => ["MSETNX", k, Pick(Values), KeyOf("s"), Pick(Values)],
                68 => random.Next(2) == 0 ? ["EXPIRETIME", k] : ["PEXPIRETIME", k],
                69 => [random.Next(2) == 0 ? "EXPIREAT" : "PEXPIREAT", k, Pick(["4102444800", "4102444801000", "1000", "0", "-1", "x"]), .. random.Next(3) == 0 ? [Pick(["NX", "XX", "GT", "LT"])] : Array.Empty<string>()],
                70 or 71 => [random.Next(2) == 0 ? "RENAME" : "RENAMENX", k, random.Next(4) == 0 ? k : Key()],
                72 or 73 => ["COPY", k, random.Next(6) == 0 ? k : Key(), .. random.Next(2) == 0 ? ["REPLACE"] : Array.Empty<string>()],
                74 => ["COPY", k, Key(), Pick(["DB", "BOGUS", "REPLACE"])],
                75 => ["HMGET", k, Pick(Fields), Pick(Fields)],
                76 => [random.Next(2) == 0 ? "HKEYS" : "HVALS", k],
                77 => ["HINCRBYFLOAT", k, Pick(Fields), random.Next(5) switch { 0 => Pick(["x", "inf", "1e400"]), _ => Half() }],
                78 => random.Next(4) switch
                {
                    0 => ["HRANDFIELD", k],
                    1 => ["HRANDFIELD", k, Pick(Counts)],
                    2 => ["HRANDFIELD", k, Pick(Counts), "WITHVALUES"],
                    _ => ["HRANDFIELD", k, Pick(["-5", "3", "0"]), Pick(["WITHVALUES", "BOGUS"])],
                },
                79 => ["HSET", k, Pick(Fields), Half()],
                80 => ["LSET", k, Pick(Indexes), Pick(Values)],
                81 => ["LTRIM", k, Pick(Indexes), Pick(Indexes)],
                82 => ["LINSERT", k, Pick(["BEFORE", "AFTER", "after", "MIDDLE"]), Pick(Values), Pick(Values)],
                83 or 84 => ["LPOS", k, Pick(Values), .. random.Next(5) switch
                {
                    0 => (string[])["RANK", Pick(["1", "-1", "2", "-2", "0", "x"])],
                    1 => ["COUNT", Pick(["0", "1", "2", "-1"])],
                    2 => ["RANK", Pick(["1", "-2"]), "COUNT", Pick(["0", "2"]), "MAXLEN", Pick(["0", "2", "-1"])],
                    3 => ["MAXLEN", Pick(["1", "3"])],
                    _ => [],
                }],
                85 => ["RPUSH", k, Pick(Values), Pick(Values), Pick(Values)],
                86 => ["SMISMEMBER", k, Pick(Values), Pick(Values)],
                87 => random.Next(3) switch
                {
                    0 => ["SPOP", k],
                    1 => ["SPOP", k, Pick(Counts)],
                    _ => ["SRANDMEMBER", k, .. random.Next(4) == 0 ? Array.Empty<string>() : [Pick(["0", "1", "2", "3", "-1", "-3", "-8", "x", "20"])]],
                },
                88 or 89 => [Pick(["SINTER", "SUNION", "SDIFF"]), k, KeyOf("t"), .. random.Next(2) == 0 ? [KeyOf("t")] : Array.Empty<string>()],
                90 or 91 => [Pick(["SINTERSTORE", "SUNIONSTORE", "SDIFFSTORE"]), KeyOf("t"), k, KeyOf("t")],
                92 => ["SADD", k, Pick(Values), Pick(Values), Pick(Values)],
                93 => [random.Next(2) == 0 ? "ZCOUNT" : "ZLEXCOUNT", k, Pick(["-inf", "0", "(1", "1.5", "-", "[m1", "(m2", "x"]), Pick(["+inf", "2", "(3", "+", "[m4", "(m3", "x"])],
                94 => [random.Next(2) == 0 ? "ZPOPMIN" : "ZPOPMAX", k, .. random.Next(2) == 0 ? Array.Empty<string>() : [Pick(Counts)]],
                95 => ["ZREVRANGE", k, Pick(Indexes), Pick(Indexes), .. random.Next(2) == 0 ? ["WITHSCORES"] : Array.Empty<string>()],
                96 => ["ZREVRANGEBYSCORE", k, Pick(["+inf", "3", "(2"]), Pick(["-inf", "0", "(1"]), .. random.Next(2) == 0 ? ["WITHSCORES", "LIMIT", Num(0, 2), Num(-1, 3)] : Array.Empty<string>()],
                97 => [random.Next(2) == 0 ? "ZRANGEBYLEX" : "ZREVRANGEBYLEX", k, Pick(["-", "[m2", "(m1", "+", "m"]), Pick(["+", "[m4", "(m5", "-"]), .. random.Next(3) == 0 ? ["LIMIT", Num(0, 2), Num(-1, 3)] : Array.Empty<string>()],
                98 => ["ZRANGE", k, Pick(["-", "[m2", "(m1", "+"]), Pick(["+", "[m4", "(m5", "-"]), "BYLEX", .. random.Next(3) switch { 0 => (string[])["REV"], 1 => ["LIMIT", "1", "2"], _ => Array.Empty<string>() }],
                _ => random.Next(4) switch
                {
                    // numkeys commands: counts that name one key, both, more than there are, or none.
                    0 => ["LMPOP", Pick(["1", "2", "2", "2", "3", "0", "x"]), k, KeyOf("l"), Pick(["LEFT", "RIGHT", "right", "MIDDLE"]), .. MultiPopTail(random, Pick)],
                    1 => ["ZMPOP", Pick(["1", "2", "2", "2", "3", "0", "-1"]), k, KeyOf("z"), Pick(["MIN", "MAX", "max", "MID"]), .. MultiPopTail(random, Pick)],
                    2 => ["SINTERCARD", Pick(["1", "2", "2", "2", "3", "0", "x"]), k, KeyOf("t"), .. random.Next(4) switch
                    {
                        0 => (string[])["LIMIT", Pick(["0", "1", "2", "-1", "x"])],
                        1 => ["LIMIT"],
                        2 => ["LIMIT", "1", "LIMIT", "0"],
                        _ => [],
                    }],
                    _ => ["ZADD", k, "0", Pick(Members), "0", Pick(Members)],
                },
            };
            commands.Add(command);
        }

        return commands;
    }

    /// <summary>The options after LMPOP's or ZMPOP's direction: a COUNT (valid or not), two COUNTs, an unknown word, or none.</summary>
    private static string[] MultiPopTail(Random random, Func<string[], string> pick) => random.Next(5) switch
    {
        0 or 1 => ["COUNT", pick(["1", "2", "5", "0", "-1", "x"])],
        2 => ["COUNT", "1", "COUNT", "2"],
        3 => [pick(["FOO", "COUNT"])],
        _ => [],
    };

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

        // The commands clients expect, at their edges; OBJECT ENCODING on values fresh from one command each.
        string r = prefix + "r", x = prefix + "x", p = prefix + "p", lx = prefix + "lx";
        commands.AddRange(
        [
            ["SET", r, "Hello World"], ["GETRANGE", r, Min, Max], ["GETRANGE", r, Max, Min], ["GETRANGE", r, "-3", "-5"], ["GETRANGE", r, "-1", "-1"],
            ["GETRANGE", r, "5", "3"], ["GETRANGE", r, "0", "0"], ["SETRANGE", r, "6", "Redis"], ["SETRANGE", r, "11", "!"], ["SETRANGE", r, "-1", "x"],
            ["SETRANGE", r, Max, "x"], ["SETRANGE", r, "536870912", "x"], ["SETRANGE", r, "3", ""], ["SETRANGE", x + "none", "5", ""], ["GET", r],
            ["GETEX", r, "EX", Max], ["GETEX", r, "PX", Max], ["GETEX", r, "EXAT", Max], ["GETEX", r, "PXAT", Max], ["GETEX", r, "EX", Min], ["GETEX", r, "PXAT", "1"], ["EXISTS", r],
            ["SETEX", r, Max, "v"], ["PSETEX", r, Max, "v"], ["SETEX", r, "9223372036854775", "v"], ["MSETNX", r, "1", x], ["MSETNX", r, "1", r, "2"],
            ["SET", x, "1"], ["EXPIREAT", x, Max], ["EXPIREAT", x, Min], ["PEXPIREAT", x, Max], ["PEXPIREAT", x, "4102444800123"], ["PEXPIRETIME", x], ["EXPIRETIME", x],
            ["EXPIREAT", x, "4102444800", "GT"], ["EXPIREAT", x, "4102444899", "LT"], ["PEXPIRETIME", x], ["EXPIREAT", x, "1"], ["EXPIRETIME", x], ["PEXPIRETIME", x],
            ["SET", x, "12345"], ["OBJECT", "ENCODING", x], ["SET", x, "hello"], ["OBJECT", "ENCODING", x], ["SET", x, new string('v', 45)], ["OBJECT", "ENCODING", x],
            ["OBJECT", "ENCODING", x + "none"], ["OBJECT", "FREQ", x], ["OBJECT", "REFCOUNT", x], ["OBJECT", "BOGUS", x], ["OBJECT", "ENCODING", x, "y"],
            ["COPY", x, x], ["COPY", x, x + "c", "DB", "x"], ["COPY", x, x + "c", "BOGUS"], ["RENAME", x + "none", x], ["RENAME", x, x], ["RENAMENX", x, x],
            ["HSET", p, "f", "1.5"], ["HINCRBYFLOAT", p, "f", "0.1"], ["HINCRBYFLOAT", p, "f", "1e400"], ["HINCRBYFLOAT", p, "f", "inf"], ["HINCRBYFLOAT", p, "g", "5.0e3"],
            ["HINCRBYFLOAT", p, "f", "1.7976931348623157e308"], ["HINCRBYFLOAT", p, "f", "-1.7976931348623157e308"], ["HSET", p, "s", "abc"], ["HINCRBYFLOAT", p, "s", "1"],
            ["OBJECT", "ENCODING", p], ["HRANDFIELD", p, Min], ["HRANDFIELD", p, "-9223372036854775807", "WITHVALUES"], ["HRANDFIELD", p, "1", "WITHVALUES", "x"],
            ["RPUSH", lx, "a", "b", "c", "a", "b", "a"], ["LPOS", lx, "a", "RANK", Min], ["LPOS", lx, "a", "RANK", Max], ["LPOS", lx, "a", "RANK", "-1", "COUNT", "0"],
            ["LPOS", lx, "a", "COUNT", Max, "MAXLEN", Max], ["LPOS", lx, "a", "RANK", "0"], ["LPOS", lx, "a", "COUNT"], ["LPOS", lx, "a", "MAXLEN", "x"],
            ["LSET", lx, Max, "z"], ["LSET", lx, Min, "z"], ["LSET", lx, "-6", "first"], ["LINSERT", lx, "BEFORE", "first", "zero"], ["LTRIM", lx, Min, Max], ["LRANGE", lx, "0", "-1"],
            ["LTRIM", lx, Max, Min], ["EXISTS", lx], ["OBJECT", "ENCODING", lx + "n"], ["RPUSH", lx + "n", "1"], ["OBJECT", "ENCODING", lx + "n"],
            ["SADD", x + "i", "1", "2"], ["OBJECT", "ENCODING", x + "i"], ["SRANDMEMBER", x + "i", Min], ["SPOP", x + "i", Min], ["SPOP", x + "i", "0"],
            ["SINTER", x + "i"], ["SDIFF", x + "i", x + "i"], ["SUNIONSTORE", x + "i", x + "i"], ["SCARD", x + "i"],
            ["ZADD", z + "l", "0", "a", "0", "b", "0", "c", "0", "d"], ["ZRANGEBYLEX", z + "l", "-", "+", "LIMIT", Max, Max], ["ZRANGEBYLEX", z + "l", "[b", "[a"],
            ["ZRANGEBYLEX", z + "l", "(b", "(b"], ["ZRANGEBYLEX", z + "l", "[b", "[b"], ["ZLEXCOUNT", z + "l", "+", "-"], ["ZLEXCOUNT", z + "l", "-", "+"],
            ["ZRANGE", z + "l", "+", "-", "BYLEX", "REV", "LIMIT", "1", Max], ["ZRANGE", z + "l", "-", "+", "BYLEX", "WITHSCORES"], ["ZRANGEBYLEX", z + "l", "[", "("],
            ["ZREVRANGE", z + "l", "0", "-1", "BYSCORE"], ["ZREVRANGE", z + "l", "0", "-1", "REV"], ["ZRANGEBYSCORE", z + "l", "0", "1", "REV"], ["ZCOUNT", z + "l", "(0", "0"],
            ["ZCOUNT", z + "l", "1", "0"], ["ZPOPMIN", z + "l", Min], ["ZPOPMAX", z + "l", Max], ["ZPOPMIN", z + "l", "1", "2"], ["OBJECT", "ENCODING", z],
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
    /// Runs <paramref name="command"/> on Granary and on Redis and compares the replies: null when they agree,
    /// otherwise why not. Random commands (SPOP, SRANDMEMBER, HRANDFIELD) are compared by property against the
    /// collection as it was, and after an SPOP Redis is brought to the members Granary kept. A CROSSSLOT reply is
    /// right only for a same-shard command whose keys <paramref name="spansShards"/> (null: one keyspace, never);
    /// Redis is then not asked.
    /// </summary>
    public static async Task<(string? Difference, CacheReply? Redis)> CompareAsync(
        IDatabase db, string[] command, Func<string[], Task<CacheReply>> execute, Func<string[], bool>? spansShards = null)
    {
        var info = CacheCommandTable.Resolve(command);
        var ours = await execute(command);
        if (ours.Text == RedisText.CrossSlot)
        {
            var spans = info is { IsSameShard: true } && spansShards is not null && spansShards(command);
            return (spans ? null : "CROSSSLOT for keys of one shard", null);
        }

        var name = command[0].ToUpperInvariant();
        if (name is not ("SPOP" or "SRANDMEMBER" or "HRANDFIELD"))
        {
            var theirs = await ExecuteOnRedisAsync(db, command);
            return (Difference(command, ours, theirs), theirs);
        }

        // The collection before the command (Granary's and Redis's are equal here, or an earlier step failed).
        var before = name == "HRANDFIELD" ? await ExecuteOnRedisAsync(db, ["HGETALL", command[1]]) : await ExecuteOnRedisAsync(db, ["SMEMBERS", command[1]]);
        var redis = await ExecuteOnRedisAsync(db, command);
        var difference = RandomDifference(command, ours, redis, before);
        if (name == "SPOP" && !ours.IsError && !redis.IsError)
        {
            var theirsPopped = Texts(redis);
            var oursPopped = Texts(ours);
            if (theirsPopped.Count > 0)
            {
                await db.ExecuteAsync("SADD", [command[1], .. theirsPopped]);
            }

            if (oursPopped.Count > 0)
            {
                await db.ExecuteAsync("SREM", [command[1], .. oursPopped]);
            }
        }

        return (difference, redis);
    }

    private static List<string> Texts(CacheReply reply) =>
        reply.Items is { } items ? [.. items.Select(i => i.Text!)] : reply.Text is { } one ? [one] : [];

    /// <summary>Compares a random command's replies by property: kind, size, membership, no repeats for a positive count.</summary>
    private static string? RandomDifference(string[] command, CacheReply ours, CacheReply redis, CacheReply before)
    {
        if (ours.IsError || redis.IsError || ours.IsNil || redis.IsNil || ours.Kind != redis.Kind || ours.Kind == CacheReplyKind.Bulk)
        {
            if (ours.Kind == CacheReplyKind.Bulk && redis.Kind == CacheReplyKind.Bulk && ours.Text is not null && redis.Text is not null)
            {
                return MembersOf(before, command[0]).ContainsKey(ours.Text) ? null : $"{ours} is not a member";
            }

            return ours.Equals(redis) ? null : Describe(ours, redis);
        }

        var withValues = command.Length == 4 && command[0].Equals("HRANDFIELD", StringComparison.OrdinalIgnoreCase);
        var members = MembersOf(before, command[0]);
        var picked = withValues ? ours.Items!.Chunk(2).Select(p => (p[0].Text!, (string?)p[1].Text)).ToList() : ours.Items!.Select(i => (i.Text!, (string?)null)).ToList();
        if (ours.Items!.Count != redis.Items!.Count)
        {
            return "size differs: " + Describe(ours, redis);
        }

        if (picked.Any(p => !members.TryGetValue(p.Item1, out var value) || (withValues && value != p.Item2)))
        {
            return "not a member (or its value): " + ours.ToString().ReplaceLineEndings(" | ");
        }

        var positive = command.Length >= 3 && !command[2].StartsWith('-');
        return positive && picked.Select(p => p.Item1).Distinct(StringComparer.Ordinal).Count() != picked.Count ? "repeats for a positive count" : null;
    }

    private static Dictionary<string, string?> MembersOf(CacheReply before, string command)
    {
        var items = before.Items ?? [];
        return command.Equals("HRANDFIELD", StringComparison.OrdinalIgnoreCase)
            ? items.Chunk(2).ToDictionary(p => p[0].Text!, p => p[1].Text, StringComparer.Ordinal)
            : items.ToDictionary(i => i.Text!, _ => (string?)null, StringComparer.Ordinal);
    }

    /// <summary>
    /// Null when the replies agree; otherwise why not. Unordered replies (SMEMBERS, HGETALL, HKEYS, HVALS,
    /// SINTER, SUNION, SDIFF) are compared as sorted lists; TTL and EXPIRETIME within 1 s and PTTL and
    /// PEXPIRETIME within 1,000 ms (the two clocks run apart).
    /// </summary>
    public static string? Difference(string[] command, CacheReply ours, CacheReply redis)
    {
        var name = command[0].ToUpperInvariant();
        if (name is "TTL" or "PTTL" or "EXPIRETIME" or "PEXPIRETIME" && ours.Kind == CacheReplyKind.Integer && redis.Kind == CacheReplyKind.Integer && ours.Integer >= 0 && redis.Integer >= 0)
        {
            var tolerance = name is "TTL" or "EXPIRETIME" ? 1 : 1000;
            return Math.Abs(ours.Integer - redis.Integer) <= tolerance ? null : Describe(ours, redis);
        }

        if (name is "SMEMBERS" or "HGETALL" or "HKEYS" or "HVALS" or "SINTER" or "SUNION" or "SDIFF" && ours.Items is not null && redis.Items is not null)
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
