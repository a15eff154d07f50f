namespace Granary.Caching;

/// <summary>What the hash, list, set and sorted-set commands share: type-checked lookups and range rules.</summary>
public sealed partial class CacheKeyspace
{
    /// <summary>Looks a key up for writing; null with <paramref name="wrongType"/> false means absent.</summary>
    private CacheEntry? Writable(string key, CacheValueType type, out bool wrongType)
    {
        var entry = LookupWrite(key);
        wrongType = entry is not null && entry.Type != type;
        return wrongType ? null : entry;
    }

    private CacheEntry? Readable(string key, CacheValueType type, out bool wrongType)
    {
        var entry = LookupRead(key);
        wrongType = entry is not null && entry.Type != type;
        return wrongType ? null : entry;
    }

    private void RemoveIfEmpty(CacheEntry entry, int count)
    {
        if (count == 0)
        {
            RemoveEntry(entry);
        }
    }


    /// <summary>Redis's rank-range rules: negative indexes from the end, clamped; false when empty.</summary>
    private static bool NormalizeRange(long length, ref long start, ref long stop)
    {
        if (start < 0)
        {
            start += length;
        }

        if (stop < 0)
        {
            stop += length;
        }

        if (start < 0)
        {
            start = 0;
        }

        if (start > stop || start >= length)
        {
            return false;
        }

        if (stop >= length)
        {
            stop = length - 1;
        }

        return true;
    }

    /// <summary>SREM and ZREM: remove the members in a[2..], account their memory, drop the key when empty.</summary>
    private CacheReply RemoveMembers(
        IReadOnlyList<string> a,
        CacheValueType type,
        long memberOverhead,
        Func<CacheEntry, string, bool> remove,
        Func<CacheEntry, int> count)
    {
        var entry = Writable(a[1], type, out var wrong);
        if (wrong)
        {
            return WrongTypeReply;
        }

        if (entry is null)
        {
            return CacheReply.Zero;
        }

        var removed = 0;
        long delta = 0;
        for (var i = 2; i < a.Count; i++)
        {
            if (remove(entry, a[i]))
            {
                removed++;
                delta -= memberOverhead + (2L * a[i].Length);
            }
        }

        if (removed > 0)
        {
            Written(entry, delta);
            RemoveIfEmpty(entry, count(entry));
        }

        return CacheReply.Int(removed);
    }
}
