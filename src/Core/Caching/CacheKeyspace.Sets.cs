namespace Granary.Caching;

/// <summary>The set commands.</summary>
public sealed partial class CacheKeyspace
{
    private const long SetMemberOverhead = 48;

    /// <summary>The sets module: each command with its arity, flags, key positions and handler.</summary>
    private static CacheCommandModule SetCommands() => new("sets",
    [
        new("SADD", -3, W, 1, 1, 1, static (k, a) => k.SAdd(a)),
        new("SREM", -3, D, 1, 1, 1, static (k, a) => k.SRem(a)),
        new("SMEMBERS", 2, R, 1, 1, 1, static (k, a) => k.SMembers(a[1])),
        new("SISMEMBER", 3, R, 1, 1, 1, static (k, a) => k.SIsMember(a[1], a[2])),
        new("SCARD", 2, R, 1, 1, 1, static (k, a) => k.SCard(a[1])),
    ]);

    private CacheReply SAdd(IReadOnlyList<string> a)
    {
        var entry = Writable(a[1], CacheValueType.Set, out var wrong);
        if (wrong)
        {
            return WrongTypeReply;
        }

        entry ??= AddEntry(a[1], CacheValueType.Set, new HashSet<string>(StringComparer.Ordinal));
        var added = 0;
        long delta = 0;
        for (var i = 2; i < a.Count; i++)
        {
            if (entry.AsSet.Add(a[i]))
            {
                added++;
                delta += SetMemberOverhead + (2L * a[i].Length);
            }
        }

        Written(entry, delta);
        return CacheReply.Int(added);
    }

    private CacheReply SRem(IReadOnlyList<string> a) =>
        RemoveMembers(a, CacheValueType.Set, SetMemberOverhead, static (e, m) => e.AsSet.Remove(m), static e => e.AsSet.Count);

    private CacheReply SMembers(string key)
    {
        var entry = Readable(key, CacheValueType.Set, out var wrong);
        if (wrong)
        {
            return WrongTypeReply;
        }

        return entry is null ? CacheReply.EmptyArray : CacheReply.BulkArray(entry.AsSet);
    }

    private CacheReply SIsMember(string key, string member)
    {
        var entry = Readable(key, CacheValueType.Set, out var wrong);
        return wrong ? WrongTypeReply : CacheReply.Int(entry is not null && entry.AsSet.Contains(member) ? 1 : 0);
    }

    private CacheReply SCard(string key)
    {
        var entry = Readable(key, CacheValueType.Set, out var wrong);
        return wrong ? WrongTypeReply : CacheReply.Int(entry?.AsSet.Count ?? 0);
    }
}
