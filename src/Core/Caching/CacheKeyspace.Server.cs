namespace Granary.Caching;

/// <summary>Commands on the whole keyspace or the connection: DBSIZE, FLUSHALL/FLUSHDB, PING.</summary>
public sealed partial class CacheKeyspace
{
    /// <summary>The server module: each command with its arity, flags, key positions and handler.</summary>
    private static CacheCommandModule ServerCommands() => new("server",
    [
        new("DBSIZE", 1, R | All, 0, 0, 0, static (k, _) => CacheReply.Int(k._entries.Count)),
        new("FLUSHALL", -1, D | All, 0, 0, 0, static (k, a) => k.Flush(a)),
        new("FLUSHDB", -1, D | All, 0, 0, 0, static (k, a) => k.Flush(a)),
        new("PING", -1, R, 0, 0, 0, static (_, a) => Ping(a)),
    ]);

    private CacheReply Flush(IReadOnlyList<string> a)
    {
        if (a.Count > 2 || (a.Count == 2 && !Is(a[1], "ASYNC") && !Is(a[1], "SYNC")))
        {
            return SyntaxReply;
        }

        List<string> removed = KeyRemoved is null && _watchStamps.Count == 0 ? [] : [.. _entries.Keys];
        _entries.Clear();
        _all.Clear();
        _volatile.Clear();
        _scanIndex?.Clear();
        _used = 0;
        _changes++;
        foreach (var key in removed)
        {
            KeyChanged(key);
            KeyRemoved?.Invoke(key);
        }

        return CacheReply.Ok;
    }

    private static CacheReply Ping(IReadOnlyList<string> a) => a.Count switch
    {
        1 => CacheReply.Status("PONG"),
        2 => CacheReply.Bulk(a[1]),
        _ => CacheReply.Error(RedisText.Arity("ping")),
    };
}
