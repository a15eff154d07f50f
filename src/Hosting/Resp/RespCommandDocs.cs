using Granary.Caching;

namespace Granary.Server.Resp;

/// <summary>One command as <c>COMMAND</c> describes it.</summary>
internal sealed record RespCommandEntry(string Name, int Arity, string[] Flags, int FirstKey, int LastKey, int Step, string Group);

/// <summary>
/// What <c>COMMAND</c>, <c>COMMAND INFO</c> and <c>COMMAND DOCS</c> answer: the cache's commands from
/// <see cref="CacheCommandTable"/> plus the endpoint's connection commands. The refused families (Lua,
/// pub/sub, ...) are not listed; <c>COMMAND DOCS</c> of one of them says it is not supported.
/// </summary>
internal static class RespCommandDocs
{
    private static readonly RespCommandEntry[] Connection =
    [
        new("PING", -1, ["fast", "stale"], 0, 0, 0, "connection"),
        new("ECHO", 2, ["fast", "stale"], 0, 0, 0, "connection"),
        new("SELECT", 2, ["loading", "stale", "fast"], 0, 0, 0, "connection"),
        new("CLIENT", -2, ["loading", "stale"], 0, 0, 0, "connection"),
        new("AUTH", -2, ["noscript", "loading", "stale", "fast", "no_auth"], 0, 0, 0, "connection"),
        new("HELLO", -1, ["noscript", "loading", "stale", "fast", "no_auth"], 0, 0, 0, "connection"),
        new("QUIT", -1, ["loading", "stale", "fast", "no_auth"], 0, 0, 0, "connection"),
        new("RESET", 1, ["noscript", "loading", "stale", "fast", "no_auth"], 0, 0, 0, "connection"),
        new("INFO", -1, ["loading", "stale"], 0, 0, 0, "server"),
        new("COMMAND", -1, ["loading", "stale"], 0, 0, 0, "server"),
        new("CONFIG", -2, ["loading", "stale"], 0, 0, 0, "server"),
        new("MULTI", 1, ["noscript", "loading", "stale", "fast"], 0, 0, 0, "transactions"),
        new("EXEC", 1, ["noscript", "loading", "stale"], 0, 0, 0, "transactions"),
        new("DISCARD", 1, ["noscript", "loading", "stale", "fast"], 0, 0, 0, "transactions"),
        new("WATCH", -2, ["noscript", "loading", "stale", "fast", "allow_busy"], 1, -1, 1, "transactions"),
        new("UNWATCH", 1, ["noscript", "loading", "stale", "fast"], 0, 0, 0, "transactions"),
    ];

    private static readonly RespCommandEntry[] Everything =
    [
        .. CacheCommandTable.Modules.SelectMany(m => m.Commands
            .Where(c => !Connection.Any(l => l.Name == c.Name))
            .Select(c => new RespCommandEntry(c.Name, c.Arity, FlagsOf(c.Flags), c.FirstKey, c.LastKey, c.Step, GroupOf(m.Name)))),
        .. Connection,
    ];

    /// <summary>Every command the endpoint runs.</summary>
    public static IEnumerable<RespCommandEntry> All() => Everything;

    /// <summary>The entry of <paramref name="name"/>, any case; null when unknown.</summary>
    public static RespCommandEntry? Find(string name) => Everything.FirstOrDefault(c => string.Equals(c.Name, name, StringComparison.OrdinalIgnoreCase));

    /// <summary>Redis 7's ten-element command description.</summary>
    public static CacheReply Info(RespCommandEntry entry) => CacheReply.Array(
    [
        CacheReply.Bulk(entry.Name.ToLowerInvariant()),
        CacheReply.Int(entry.Arity),
        CacheReply.Array([.. entry.Flags.Select(CacheReply.Status)]),
        CacheReply.Int(entry.FirstKey),
        CacheReply.Int(entry.LastKey),
        CacheReply.Int(entry.Step),
        CacheReply.Array([CacheReply.Status("@" + entry.Group)]),
        CacheReply.EmptyArray,
        CacheReply.EmptyArray,
        CacheReply.EmptyArray,
    ]);

    /// <summary>The docs map of <paramref name="name"/> (as a flat array), or null when the endpoint knows nothing of it.</summary>
    public static CacheReply? Docs(string name)
    {
        if (RespText.Unsupported.TryGetValue(name, out var family))
        {
            return Map("summary", RespText.NotSupported(name, family)[4..], "since", "-", "group", "unsupported");
        }

        return Find(name) is { } entry
            ? Map("summary", $"{entry.Name} as Redis defines it, run by Granary's cache ({entry.Group})", "since", "1.0.0", "group", entry.Group)
            : null;
    }

    private static CacheReply Map(params string[] pairs) => CacheReply.BulkArray(pairs);

    private static string[] FlagsOf(CacheCommandFlags flags)
    {
        var list = new List<string>();
        if ((flags & CacheCommandFlags.Write) != 0)
        {
            list.Add("write");
        }

        if ((flags & CacheCommandFlags.ReadOnly) != 0)
        {
            list.Add("readonly");
        }

        if ((flags & CacheCommandFlags.DenyOom) != 0)
        {
            list.Add("denyoom");
        }

        return [.. list];
    }

    private static string GroupOf(string module) => module switch
    {
        "strings" => "string",
        "keys" => "generic",
        "hashes" => "hash",
        "lists" => "list",
        "sets" => "set",
        "sorted sets" => "sorted-set",
        _ => "server",
    };
}
