using System.Collections.Frozen;

namespace Granary.Caching;

/// <summary>Properties of a command that matter for routing and memory control.</summary>
[Flags]
public enum CacheCommandFlags
{
    /// <summary>Nothing special.</summary>
    None = 0,

    /// <summary>Changes data.</summary>
    Write = 1,

    /// <summary>May grow memory: refused with OOM under no-eviction when memory is full.</summary>
    DenyOom = 2,

    /// <summary>Reads only.</summary>
    ReadOnly = 4,

    /// <summary>Concerns the whole keyspace (SCAN, KEYS, DBSIZE, FLUSHALL): fanned out to every shard.</summary>
    AllShards = 8,
}

/// <summary>
/// One command: Redis arity (positive = exact, negative = at least) and key positions
/// (first, last (-1 = to the end), step), like Redis's command table.
/// </summary>
public sealed record CacheCommandInfo(string Name, int Arity, CacheCommandFlags Flags, int FirstKey, int LastKey, int Step)
{
    /// <summary>True when the argument count fits the arity.</summary>
    public bool ArityFits(int count) => Arity >= 0 ? count == Arity : count >= -Arity;

    /// <summary>The indexes of key arguments in <paramref name="count"/> arguments.</summary>
    public IEnumerable<int> KeyIndexes(int count)
    {
        if (FirstKey <= 0)
        {
            yield break;
        }

        var last = LastKey < 0 ? count + LastKey : LastKey;
        for (var i = FirstKey; i <= last && i < count; i += Step)
        {
            yield return i;
        }
    }
}

/// <summary>The commands the cache understands.</summary>
public static class CacheCommandTable
{
    private const CacheCommandFlags W = CacheCommandFlags.Write | CacheCommandFlags.DenyOom;
    private const CacheCommandFlags D = CacheCommandFlags.Write;
    private const CacheCommandFlags R = CacheCommandFlags.ReadOnly;
    private const CacheCommandFlags All = CacheCommandFlags.AllShards;

    /// <summary>Every command by upper-case name.</summary>
    public static FrozenDictionary<string, CacheCommandInfo> Commands { get; } = new CacheCommandInfo[]
    {
        // Strings
        new("GET", 2, R, 1, 1, 1),
        new("SET", -3, W, 1, 1, 1),
        new("GETSET", 3, W, 1, 1, 1),
        new("GETDEL", 2, D, 1, 1, 1),
        new("INCR", 2, W, 1, 1, 1),
        new("DECR", 2, W, 1, 1, 1),
        new("INCRBY", 3, W, 1, 1, 1),
        new("DECRBY", 3, W, 1, 1, 1),
        new("INCRBYFLOAT", 3, W, 1, 1, 1),
        new("APPEND", 3, W, 1, 1, 1),
        new("STRLEN", 2, R, 1, 1, 1),
        new("MGET", -2, R, 1, -1, 1),
        new("MSET", -3, W, 1, -1, 2),
        new("GETS", 2, R, 1, 1, 1),
        new("CAS", -4, W, 1, 1, 1),

        // Keys
        new("DEL", -2, D, 1, -1, 1),
        new("UNLINK", -2, D, 1, -1, 1),
        new("EXISTS", -2, R, 1, -1, 1),
        new("EXPIRE", -3, D, 1, 1, 1),
        new("PEXPIRE", -3, D, 1, 1, 1),
        new("TTL", 2, R, 1, 1, 1),
        new("PTTL", 2, R, 1, 1, 1),
        new("PERSIST", 2, D, 1, 1, 1),
        new("TYPE", 2, R, 1, 1, 1),
        new("SCAN", -2, R | All, 0, 0, 0),
        new("KEYS", 2, R | All, 0, 0, 0),
        new("DBSIZE", 1, R | All, 0, 0, 0),
        new("FLUSHALL", -1, D | All, 0, 0, 0),
        new("FLUSHDB", -1, D | All, 0, 0, 0),
        new("PING", -1, R, 0, 0, 0),

        // Hashes
        new("HSET", -4, W, 1, 1, 1),
        new("HGET", 3, R, 1, 1, 1),
        new("HDEL", -3, D, 1, 1, 1),
        new("HGETALL", 2, R, 1, 1, 1),
        new("HINCRBY", 4, W, 1, 1, 1),
        new("HLEN", 2, R, 1, 1, 1),
        new("HEXISTS", 3, R, 1, 1, 1),

        // Lists
        new("LPUSH", -3, W, 1, 1, 1),
        new("RPUSH", -3, W, 1, 1, 1),
        new("LPOP", -2, D, 1, 1, 1),
        new("RPOP", -2, D, 1, 1, 1),
        new("LRANGE", 4, R, 1, 1, 1),
        new("LLEN", 2, R, 1, 1, 1),
        new("LINDEX", 3, R, 1, 1, 1),
        new("LREM", 4, D, 1, 1, 1),

        // Sets
        new("SADD", -3, W, 1, 1, 1),
        new("SREM", -3, D, 1, 1, 1),
        new("SMEMBERS", 2, R, 1, 1, 1),
        new("SISMEMBER", 3, R, 1, 1, 1),
        new("SCARD", 2, R, 1, 1, 1),

        // Sorted sets
        new("ZADD", -4, W, 1, 1, 1),
        new("ZREM", -3, D, 1, 1, 1),
        new("ZSCORE", 3, R, 1, 1, 1),
        new("ZINCRBY", 4, W, 1, 1, 1),
        new("ZRANGE", -4, R, 1, 1, 1),
        new("ZRANGEBYSCORE", -4, R, 1, 1, 1),
        new("ZRANK", 3, R, 1, 1, 1),
        new("ZCARD", 2, R, 1, 1, 1),
    }.ToFrozenDictionary(c => c.Name, StringComparer.OrdinalIgnoreCase);

    /// <summary>Looks a command up by name, any case.</summary>
    public static CacheCommandInfo? Find(string name) => Commands.GetValueOrDefault(name);
}
