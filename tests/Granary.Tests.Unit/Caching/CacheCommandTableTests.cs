using Granary.Caching;
using Microsoft.Extensions.Time.Testing;

namespace Granary.Tests.Unit.Caching;

/// <summary>
/// Walks the command table: every command comes from one module, and what the table declares (arity, key
/// positions, write flag) agrees with what the command's handler does on a sample call.
/// </summary>
public sealed class CacheCommandTableTests
{
    // One minimal call per command (its arity exactly, or the least it accepts). A command added to a module
    // without a sample here fails Every_command_has_a_sample_call.
    private static readonly Dictionary<string, string[]> Samples = new(StringComparer.Ordinal)
    {
        ["GET"] = ["GET", "k"],
        ["SET"] = ["SET", "k", "v"],
        ["HMSET"] = ["HMSET", "k", "f", "v"],
        ["SETEX"] = ["SETEX", "k", "10", "v"],
        ["PSETEX"] = ["PSETEX", "k", "10000", "v"],
        ["SETNX"] = ["SETNX", "k", "v"],
        ["GETSET"] = ["GETSET", "k", "v"],
        ["GETDEL"] = ["GETDEL", "k"],
        ["INCR"] = ["INCR", "k"],
        ["DECR"] = ["DECR", "k"],
        ["INCRBY"] = ["INCRBY", "k", "5"],
        ["DECRBY"] = ["DECRBY", "k", "5"],
        ["INCRBYFLOAT"] = ["INCRBYFLOAT", "k", "1.5"],
        ["APPEND"] = ["APPEND", "k", "v"],
        ["STRLEN"] = ["STRLEN", "k"],
        ["MGET"] = ["MGET", "k"],
        ["MSET"] = ["MSET", "k", "v"],
        ["GETS"] = ["GETS", "k"],
        ["CAS"] = ["CAS", "k", "v", "1"],
        ["DEL"] = ["DEL", "k"],
        ["UNLINK"] = ["UNLINK", "k"],
        ["EXISTS"] = ["EXISTS", "k"],
        ["EXPIRE"] = ["EXPIRE", "k", "10"],
        ["PEXPIRE"] = ["PEXPIRE", "k", "10"],
        ["TTL"] = ["TTL", "k"],
        ["PTTL"] = ["PTTL", "k"],
        ["PERSIST"] = ["PERSIST", "k"],
        ["TYPE"] = ["TYPE", "k"],
        ["SCAN"] = ["SCAN", "0"],
        ["KEYS"] = ["KEYS", "*"],
        ["DBSIZE"] = ["DBSIZE"],
        ["FLUSHALL"] = ["FLUSHALL"],
        ["FLUSHDB"] = ["FLUSHDB"],
        ["PING"] = ["PING"],
        ["HSET"] = ["HSET", "k", "f", "v"],
        ["HGET"] = ["HGET", "k", "f"],
        ["HDEL"] = ["HDEL", "k", "f"],
        ["HGETALL"] = ["HGETALL", "k"],
        ["HINCRBY"] = ["HINCRBY", "k", "f", "1"],
        ["HLEN"] = ["HLEN", "k"],
        ["HEXISTS"] = ["HEXISTS", "k", "f"],
        ["LPUSH"] = ["LPUSH", "k", "v"],
        ["RPUSH"] = ["RPUSH", "k", "v"],
        ["LPOP"] = ["LPOP", "k"],
        ["RPOP"] = ["RPOP", "k"],
        ["LRANGE"] = ["LRANGE", "k", "0", "-1"],
        ["LLEN"] = ["LLEN", "k"],
        ["LINDEX"] = ["LINDEX", "k", "0"],
        ["LREM"] = ["LREM", "k", "0", "v"],
        ["SADD"] = ["SADD", "k", "m"],
        ["SREM"] = ["SREM", "k", "m"],
        ["SMEMBERS"] = ["SMEMBERS", "k"],
        ["SISMEMBER"] = ["SISMEMBER", "k", "m"],
        ["SCARD"] = ["SCARD", "k"],
        ["ZADD"] = ["ZADD", "k", "1", "m"],
        ["ZREM"] = ["ZREM", "k", "m"],
        ["ZSCORE"] = ["ZSCORE", "k", "m"],
        ["ZINCRBY"] = ["ZINCRBY", "k", "1", "m"],
        ["ZRANGE"] = ["ZRANGE", "k", "0", "-1"],
        ["ZRANGEBYSCORE"] = ["ZRANGEBYSCORE", "k", "0", "1"],
        ["ZRANK"] = ["ZRANK", "k", "m"],
        ["ZCARD"] = ["ZCARD", "k"],
        ["GETEX"] = ["GETEX", "k"],
        ["GETRANGE"] = ["GETRANGE", "k", "0", "-1"],
        ["SETRANGE"] = ["SETRANGE", "k", "0", "v"],
        ["SETNX"] = ["SETNX", "k", "v"],
        ["SETEX"] = ["SETEX", "k", "10", "v"],
        ["PSETEX"] = ["PSETEX", "k", "10000", "v"],
        ["MSETNX"] = ["MSETNX", "k", "v"],
        ["EXPIREAT"] = ["EXPIREAT", "k", "4102444800"],
        ["PEXPIREAT"] = ["PEXPIREAT", "k", "4102444800000"],
        ["EXPIRETIME"] = ["EXPIRETIME", "k"],
        ["PEXPIRETIME"] = ["PEXPIRETIME", "k"],
        ["RENAME"] = ["RENAME", "k", "k2"],
        ["RENAMENX"] = ["RENAMENX", "k", "k2"],
        ["COPY"] = ["COPY", "k", "k2"],
        ["OBJECT"] = ["OBJECT", "ENCODING", "k"],
        ["HMGET"] = ["HMGET", "k", "f"],
        ["HKEYS"] = ["HKEYS", "k"],
        ["HVALS"] = ["HVALS", "k"],
        ["HRANDFIELD"] = ["HRANDFIELD", "k"],
        ["HINCRBYFLOAT"] = ["HINCRBYFLOAT", "k", "f", "1.5"],
        ["LSET"] = ["LSET", "k", "0", "v"],
        ["LTRIM"] = ["LTRIM", "k", "0", "-1"],
        ["LINSERT"] = ["LINSERT", "k", "BEFORE", "p", "v"],
        ["LPOS"] = ["LPOS", "k", "v"],
        ["LMPOP"] = ["LMPOP", "1", "k", "LEFT"],
        ["SMISMEMBER"] = ["SMISMEMBER", "k", "m"],
        ["SPOP"] = ["SPOP", "k"],
        ["SRANDMEMBER"] = ["SRANDMEMBER", "k"],
        ["SINTER"] = ["SINTER", "k"],
        ["SINTERCARD"] = ["SINTERCARD", "1", "k"],
        ["SUNION"] = ["SUNION", "k"],
        ["SDIFF"] = ["SDIFF", "k"],
        ["SINTERSTORE"] = ["SINTERSTORE", "d", "k"],
        ["SUNIONSTORE"] = ["SUNIONSTORE", "d", "k"],
        ["SDIFFSTORE"] = ["SDIFFSTORE", "d", "k"],
        ["ZREVRANGE"] = ["ZREVRANGE", "k", "0", "-1"],
        ["ZREVRANGEBYSCORE"] = ["ZREVRANGEBYSCORE", "k", "1", "0"],
        ["ZRANGEBYLEX"] = ["ZRANGEBYLEX", "k", "-", "+"],
        ["ZREVRANGEBYLEX"] = ["ZREVRANGEBYLEX", "k", "+", "-"],
        ["ZCOUNT"] = ["ZCOUNT", "k", "0", "1"],
        ["ZLEXCOUNT"] = ["ZLEXCOUNT", "k", "-", "+"],
        ["ZPOPMIN"] = ["ZPOPMIN", "k"],
        ["ZPOPMAX"] = ["ZPOPMAX", "k"],
        ["MCGET"] = ["MCGET", "k"],
        ["MCGAT"] = ["MCGAT", "k", "10"],
        ["MCSTORE"] = ["MCSTORE", "k", "v", "set", "0", "0"],
        ["MCINCR"] = ["MCINCR", "k", "incr", "1"],
        ["MCTOUCH"] = ["MCTOUCH", "k", "10"],
        ["MCMETAGET"] = ["MCMETAGET", "k", "-", "-", "-", ""],
        ["MCMETASTORE"] = ["MCMETASTORE", "k", "v", "set", "0", "0", "-"],
        ["MCDELETE"] = ["MCDELETE", "k", "-"],
        ["MCARITH"] = ["MCARITH", "k", "incr", "1", "-", "0"],
        ["DELIFEQ"] = ["DELIFEQ", "k", "v"],
        ["PEXPIREIFEQ"] = ["PEXPIREIFEQ", "k", "v", "10000"],
        ["ZMPOP"] = ["ZMPOP", "1", "k", "MIN"],
    };

    private readonly FakeTimeProvider _time = new(DateTimeOffset.Parse("2026-01-01T00:00:00Z", System.Globalization.CultureInfo.InvariantCulture));

    public static TheoryData<string> CommandNames() => [.. CacheCommandTable.Commands.Keys.Order(StringComparer.Ordinal)];

    [Fact]
    public void Every_command_comes_from_exactly_one_module()
    {
        var fromModules = CacheCommandTable.Modules.SelectMany(m => m.Commands.Select(c => (Module: m.Name, c.Name))).ToList();
        Assert.All(CacheCommandTable.Modules, m => Assert.NotEmpty(m.Commands));
        Assert.Equal(CacheCommandTable.Modules.Count, CacheCommandTable.Modules.Select(m => m.Name).Distinct(StringComparer.Ordinal).Count());
        Assert.Empty(fromModules.GroupBy(c => c.Name, StringComparer.OrdinalIgnoreCase).Where(g => g.Count() > 1).Select(g => $"{g.Key} in {string.Join(", ", g.Select(c => c.Module))}"));
        Assert.Equal(fromModules.Select(c => c.Name).Order(StringComparer.Ordinal), CacheCommandTable.Commands.Keys.Order(StringComparer.Ordinal));
        Assert.All(CacheCommandTable.Commands.Values, c => Assert.Equal(c.Name.ToUpperInvariant(), c.Name));
        Assert.Same(CacheCommandTable.Find("MSET"), CacheCommandTable.Find("mset"));
    }

    [Fact]
    public void Every_command_has_a_sample_call()
    {
        Assert.Equal(CacheCommandTable.Commands.Keys.Order(StringComparer.Ordinal), Samples.Keys.Order(StringComparer.Ordinal));
    }

    [Theory]
    [MemberData(nameof(CommandNames))]
    public void The_least_call_the_arity_allows_runs_without_an_arity_or_internal_error(string name)
    {
        var info = CacheCommandTable.Commands[name];
        var sample = Samples[name];
        Assert.Equal(Math.Abs(info.Arity), sample.Length);
        Assert.Same(info, CacheCommandTable.Resolve(sample));

        var ks = NewKeyspace();
        var reply = ks.Execute(sample);
        Assert.False(reply.IsError && reply.Text!.Contains("wrong number of arguments", StringComparison.Ordinal), $"{name}: {reply}");
        Assert.Equal(0, ks.Faults);
    }

    [Theory]
    [MemberData(nameof(CommandNames))]
    public void A_call_outside_the_arity_gets_the_redis_arity_error_and_changes_nothing(string name)
    {
        var info = CacheCommandTable.Commands[name];
        var sample = Samples[name];
        var wrong = new List<string[]>();
        if (sample.Length > 1)
        {
            wrong.Add(sample[..^1]);
        }

        if (info.Arity > 0)
        {
            wrong.Add([.. sample, "extra"]);
        }

        foreach (var call in wrong)
        {
            var ks = NewKeyspace();
            ks.Execute("SET", "bystander", "v");
            Assert.Null(CacheCommandTable.Resolve(call));
            Assert.Equal(CacheReply.Error($"ERR wrong number of arguments for '{name.ToLowerInvariant()}' command"), ks.Execute(call));
            Assert.False(ks.LastCommandChanged);
            Assert.Equal(["bystander"], ks.LiveKeys());
        }
    }

    [Theory]
    [MemberData(nameof(CommandNames))]
    public void A_command_adds_or_removes_only_the_keys_its_key_positions_name(string name)
    {
        var info = CacheCommandTable.Commands[name];
        var sample = Samples[name];
        var keys = info.Keys(sample).ToHashSet(StringComparer.Ordinal);
        if (info.IsAllShards)
        {
            // A whole-keyspace command names no key: the client fans it out to every shard.
            Assert.Empty(keys);
            return;
        }

        var ks = NewKeyspace();
        ks.Execute("SET", "bystander", "v");
        var removed = new List<string>();
        ks.KeyRemoved = removed.Add;
        for (var i = 0; i < 2; i++)
        {
            ks.Execute(sample);
            Assert.False(!info.IsWrite && ks.LastCommandChanged, $"{name} is declared read-only but changed the keyspace");
        }

        Assert.Subset(keys, ks.LiveKeys().Where(k => k != "bystander").ToHashSet(StringComparer.Ordinal));
        Assert.Subset(keys, removed.ToHashSet(StringComparer.Ordinal));
        Assert.Equal(CacheReply.Bulk("v"), ks.Execute("GET", "bystander"));
    }

    [Fact]
    public void A_write_on_an_empty_keyspace_creates_exactly_the_keys_the_table_extracts()
    {
        string[][] calls =
        [
            .. Samples.Values,
            ["MSET", "a", "1", "b", "2", "c", "3"],
            ["SET", "k", "v", "EX", "10"],
            ["ZADD", "z", "1", "m", "2", "n"],
            ["HSET", "h", "f", "v", "g", "w"],
        ];
        var checkedWrites = 0;
        foreach (var call in calls)
        {
            var info = CacheCommandTable.Resolve(call)!;
            var ks = NewKeyspace();
            ks.Execute(call);
            if (!info.IsWrite || !ks.LastCommandChanged)
            {
                continue;
            }

            checkedWrites++;
            Assert.Equal(info.Keys(call).Order(StringComparer.Ordinal), ks.LiveKeys().Order(StringComparer.Ordinal));
        }

        Assert.True(checkedWrites >= 15, $"only {checkedWrites} writes created keys");
    }

    [Fact]
    public void Key_positions_of_multi_key_commands()
    {
        Assert.Equal(["a", "b", "c"], Keys("MSET", "a", "1", "b", "2", "c", "3"));
        Assert.Equal(["a", "b", "c"], Keys("DEL", "a", "b", "c"));
        Assert.Equal(["a", "b", "c"], Keys("UNLINK", "a", "b", "c"));
        Assert.Equal(["a", "b"], Keys("MGET", "a", "b"));
        Assert.Equal(["a", "b"], Keys("EXISTS", "a", "b"));
        Assert.Equal(["k"], Keys("SET", "k", "v", "EX", "10"));
        Assert.Equal(["k"], Keys("ZADD", "k", "1", "a", "2", "b"));
        Assert.Empty(Keys("SCAN", "0", "MATCH", "k*"));
        Assert.Empty(Keys("PING", "hello"));
        Assert.Equal(["a", "b"], Keys("RENAME", "a", "b"));
        Assert.Equal(["a", "b"], Keys("COPY", "a", "b", "REPLACE"));
        Assert.Equal(["d", "a", "b"], Keys("SINTERSTORE", "d", "a", "b"));
        Assert.Equal(["k"], Keys("OBJECT", "ENCODING", "k"));
    }

    [Fact]
    public void Multi_key_commands_that_cannot_be_split_by_shard_are_marked_same_shard()
    {
        string[] sameShard = ["MSETNX", "RENAME", "RENAMENX", "COPY", "SINTER", "SUNION", "SDIFF", "SINTERSTORE", "SUNIONSTORE", "SDIFFSTORE", "LMPOP", "ZMPOP", "SINTERCARD"];
        Assert.Equal(sameShard.Order(StringComparer.Ordinal), CacheCommandTable.Commands.Values.Where(c => c.IsSameShard).Select(c => c.Name).Order(StringComparer.Ordinal));
        Assert.All(CacheCommandTable.Commands.Values.Where(c => c.FirstKey > 0 && c.LastKey != c.FirstKey && !c.IsSameShard), c => Assert.Contains(c.Name, new[] { "MGET", "MSET", "DEL", "UNLINK", "EXISTS" }));
    }

    [Fact]
    public void A_numkeys_argument_says_which_arguments_are_keys()
    {
        Assert.Equal(["a", "b"], Keys("LMPOP", "2", "a", "b", "LEFT", "COUNT", "3"));
        Assert.Equal(["a"], Keys("LMPOP", "1", "a", "b", "LEFT"));
        Assert.Equal(["x", "y", "z"], Keys("ZMPOP", "3", "x", "y", "z", "MIN"));
        Assert.Equal(["s", "t"], Keys("SINTERCARD", "2", "s", "t", "LIMIT", "5"));
        Assert.Equal(["s", "t"], Keys("SINTERCARD", "2", "s", "t"));

        // A count that is not a positive integer or names more arguments than there are names no key (the shard answers Redis's error).
        Assert.Empty(Keys("LMPOP", "0", "a", "LEFT"));
        Assert.Empty(Keys("LMPOP", "x", "a", "LEFT"));
        Assert.Empty(Keys("LMPOP", "2", "a", "LEFT"));
        Assert.Empty(Keys("ZMPOP", "3", "a", "b", "MIN"));
        Assert.Empty(Keys("SINTERCARD", "3", "s", "t"));
        Assert.Empty(Keys("SINTERCARD", "-1", "s", "t"));
        Assert.Empty(Keys("SINTERCARD", "+1", "s", "t"));
        Assert.True(CacheCommandTable.Find("LMPOP")!.HasMovableKeys);
        Assert.False(CacheCommandTable.Find("SINTER")!.HasMovableKeys);
    }

    [Fact]
    public void Resolve_refuses_unknown_names_and_counts_outside_the_arity()
    {
        Assert.Null(CacheCommandTable.Resolve(["NOSUCH", "k"]));
        Assert.Null(CacheCommandTable.Resolve(["GET"]));
        Assert.Null(CacheCommandTable.Resolve(["GET", "a", "b"]));
        Assert.Null(CacheCommandTable.Resolve([]));
        Assert.Null(CacheCommandTable.Resolve(null));
        Assert.Equal("MSET", CacheCommandTable.Resolve(["mset", "a", "1"])!.Name);
    }

    private static string[] Keys(params string[] command) => [.. CacheCommandTable.Resolve(command)!.Keys(command)];

    private CacheKeyspace NewKeyspace() => new(new CacheKeyspaceOptions(), _time);
}
