using Granary.Caching;

namespace Granary.Server.Resp;

/// <summary>One command as <c>COMMAND</c> describes it.</summary>
internal sealed record RespCommandEntry(string Name, int Arity, string[] Flags, int FirstKey, int LastKey, int Step, string Group, int NumKeysIndex = 0);

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
            .Select(c => c.HasMovableKeys
                ? new RespCommandEntry(c.Name, c.Arity, [.. FlagsOf(c.Flags), "movablekeys"], 0, 0, 0, GroupOf(m.Name), c.NumKeysIndex)
                : new RespCommandEntry(c.Name, c.Arity, FlagsOf(c.Flags), c.FirstKey, c.LastKey, c.Step, GroupOf(m.Name)))),
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
        KeySpecs(entry),
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

    /// <summary>
    /// Redis 7's key specifications (flat, as in RESP2): where the keys begin and how they are found, a range
    /// or a numkeys argument (<c>keynum</c>, the keys of a movable-keys command such as LMPOP).
    /// </summary>
    private static CacheReply KeySpecs(RespCommandEntry entry)
    {
        if (entry.NumKeysIndex == 0 && entry.FirstKey <= 0)
        {
            return CacheReply.EmptyArray;
        }

        var access = entry.Flags.Contains("write") ? "RW" : "RO";
        var begin = entry.NumKeysIndex > 0 ? entry.NumKeysIndex : entry.FirstKey;
        var find = entry.NumKeysIndex > 0
            ? CacheReply.Array([CacheReply.Bulk("type"), CacheReply.Bulk("keynum"), CacheReply.Bulk("spec"),
                CacheReply.Array([CacheReply.Bulk("keynumidx"), CacheReply.Int(0), CacheReply.Bulk("firstkey"), CacheReply.Int(1), CacheReply.Bulk("keystep"), CacheReply.Int(1)])])
            : CacheReply.Array([CacheReply.Bulk("type"), CacheReply.Bulk("range"), CacheReply.Bulk("spec"),
                CacheReply.Array([CacheReply.Bulk("lastkey"), CacheReply.Int(entry.LastKey < 0 ? entry.LastKey : entry.LastKey - entry.FirstKey), CacheReply.Bulk("keystep"), CacheReply.Int(entry.Step), CacheReply.Bulk("limit"), CacheReply.Int(0)])]);
        return CacheReply.Array(
        [
            CacheReply.Array(
            [
                CacheReply.Bulk("flags"), CacheReply.Array([CacheReply.Status(access)]),
                CacheReply.Bulk("begin_search"), CacheReply.Array([CacheReply.Bulk("type"), CacheReply.Bulk("index"), CacheReply.Bulk("spec"), CacheReply.Array([CacheReply.Bulk("index"), CacheReply.Int(begin)])]),
                CacheReply.Bulk("find_keys"), find,
            ]),
        ]);
    }

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
