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
        new("SMISMEMBER", -3, R, 1, 1, 1, static (k, a) => k.SMIsMember(a)),
        new("SPOP", -2, D, 1, 1, 1, static (k, a) => k.SPop(a)),
        new("SRANDMEMBER", -2, R, 1, 1, 1, static (k, a) => k.SRandMember(a)),
        new("SINTER", -2, R | S, 1, -1, 1, static (k, a) => k.SetAlgebra(a, SetOperation.Intersect, store: false)),
        new("SINTERCARD", -3, R | S, 2, -1, 1, static (k, a) => k.SInterCard(a), numKeysIndex: 1),
        new("SUNION", -2, R | S, 1, -1, 1, static (k, a) => k.SetAlgebra(a, SetOperation.Union, store: false)),
        new("SDIFF", -2, R | S, 1, -1, 1, static (k, a) => k.SetAlgebra(a, SetOperation.Difference, store: false)),
        new("SINTERSTORE", -3, W | S, 1, -1, 1, static (k, a) => k.SetAlgebra(a, SetOperation.Intersect, store: true)),
        new("SUNIONSTORE", -3, W | S, 1, -1, 1, static (k, a) => k.SetAlgebra(a, SetOperation.Union, store: true)),
        new("SDIFFSTORE", -3, W | S, 1, -1, 1, static (k, a) => k.SetAlgebra(a, SetOperation.Difference, store: true)),
    ]);

    private enum SetOperation
    {
        Intersect,
        Union,
        Difference,
    }

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

    private CacheReply SMIsMember(IReadOnlyList<string> a)
    {
        var entry = Readable(a[1], CacheValueType.Set, out var wrong);
        if (wrong)
        {
            return WrongTypeReply;
        }

        var replies = new CacheReply[a.Count - 2];
        for (var i = 2; i < a.Count; i++)
        {
            replies[i - 2] = entry is not null && entry.AsSet.Contains(a[i]) ? CacheReply.One : CacheReply.Zero;
        }

        return CacheReply.Array(replies);
    }

    /// <summary>SPOP key [count]: removes and returns random members (the engine's seeded source), at most the set's size.</summary>
    private CacheReply SPop(IReadOnlyList<string> a)
    {
        if (a.Count > 3)
        {
            return SyntaxReply;
        }

        var hasCount = a.Count == 3;
        long count = 1;
        if (hasCount && (!RedisText.TryParseInt64(a[2], out count) || count < 0))
        {
            return CacheReply.Error(RedisText.MustBePositive);
        }

        var entry = Writable(a[1], CacheValueType.Set, out var wrong);
        if (wrong)
        {
            return WrongTypeReply;
        }

        if (entry is null)
        {
            return hasCount ? CacheReply.EmptyArray : CacheReply.Nil;
        }

        if (count == 0)
        {
            return CacheReply.EmptyArray;
        }

        var set = entry.AsSet;
        var popped = RandomElements(set, set.Count, count, out _);
        long delta = 0;
        foreach (var member in popped)
        {
            set.Remove(member);
            delta -= SetMemberOverhead + (2L * member.Length);
        }

        Written(entry, delta);
        RemoveIfEmpty(entry, set.Count);
        return hasCount ? CacheReply.BulkArray(popped) : CacheReply.Bulk(popped[0]);
    }

    /// <summary>SRANDMEMBER key [count]: random members without removing them; a negative count allows repeats.</summary>
    private CacheReply SRandMember(IReadOnlyList<string> a)
    {
        if (a.Count > 3)
        {
            return SyntaxReply;
        }

        long count = 1;
        if (a.Count == 3 && ParseRandomCount(a[2], out count) is { } invalid)
        {
            return invalid;
        }

        var entry = Readable(a[1], CacheValueType.Set, out var wrong);
        if (wrong)
        {
            return WrongTypeReply;
        }

        if (a.Count == 2)
        {
            return entry is null ? CacheReply.Nil : CacheReply.Bulk(RandomElements(entry.AsSet, entry.AsSet.Count, 1, out _)[0]);
        }

        if (entry is null || count == 0)
        {
            return CacheReply.EmptyArray;
        }

        var members = RandomElements(entry.AsSet, entry.AsSet.Count, count, out var refused);
        return refused ?? CacheReply.BulkArray(members);
    }

    /// <summary>
    /// SINTER, SUNION, SDIFF and their STORE forms (destination first): every key is type-checked, a missing key is
    /// an empty set, and a store replaces the destination (dropping its TTL) or deletes it when the result is empty.
    /// </summary>
    private CacheReply SetAlgebra(IReadOnlyList<string> a, SetOperation operation, bool store)
    {
        var first = store ? 2 : 1;
        var sets = new HashSet<string>?[a.Count - first];
        for (var i = first; i < a.Count; i++)
        {
            var entry = Readable(a[i], CacheValueType.Set, out var wrong);
            if (wrong)
            {
                return WrongTypeReply;
            }

            sets[i - first] = entry?.AsSet;
        }

        var result = new HashSet<string>(StringComparer.Ordinal);
        switch (operation)
        {
            case SetOperation.Intersect when sets.All(set => set is not null):
                var smallest = sets.MinBy(set => set!.Count)!;
                result.UnionWith(smallest.Where(member => sets.All(set => set!.Contains(member))));
                break;
            case SetOperation.Union:
                foreach (var set in sets)
                {
                    result.UnionWith(set ?? []);
                }

                break;
            case SetOperation.Difference when sets[0] is not null:
                result.UnionWith(sets[0]!.Where(member => !sets.Skip(1).Any(set => set is not null && set.Contains(member))));
                break;
            default:
                break;
        }

        if (!store)
        {
            return CacheReply.BulkArray(result);
        }

        if (LookupWrite(a[1]) is { } existing)
        {
            RemoveEntry(existing);
        }

        if (result.Count > 0)
        {
            Place(a[1], CacheValueType.Set, result, result.Sum(member => SetMemberOverhead + (2L * member.Length)), -1);
        }

        return CacheReply.Int(result.Count);
    }
}
