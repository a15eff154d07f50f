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

    /// <summary>The count of SRANDMEMBER or HRANDFIELD: any 64-bit integer but the smallest (its negation overflows).</summary>
    private static CacheReply? ParseRandomCount(string text, out long count)
    {
        if (!RedisText.TryParseInt64(text, out count))
        {
            return NotIntegerReply;
        }

        return count == long.MinValue ? CacheReply.Error(RedisText.CountOutOfRange) : null;
    }

    /// <summary>
    /// Random elements from the engine's seeded source: for a positive <paramref name="count"/> distinct elements
    /// (all of them when the count reaches the size), for a negative one that many picks with repeats, refused when
    /// larger than both the size and <see cref="CacheKeyspaceOptions.MaxRandomCount"/>.
    /// </summary>
    private List<string> RandomElements(IEnumerable<string> source, int size, long count, out CacheReply? refused)
    {
        refused = null;
        var items = source.ToArray();
        if (count >= size)
        {
            return [.. items];
        }

        if (count > 0)
        {
            // Partial Fisher-Yates: the first count slots end up a uniform sample without repeats.
            for (var i = 0; i < count; i++)
            {
                var j = _random.Next(i, items.Length);
                (items[i], items[j]) = (items[j], items[i]);
            }

            return [.. items.Take((int)count)];
        }

        var picks = -count;
        if (picks > size && picks > Options.MaxRandomCount)
        {
            refused = CacheReply.Error(RedisText.RandomCountOverLimit(count, Options.MaxRandomCount));
            return [];
        }

        var chosen = new List<string>((int)picks);
        for (var i = 0; i < picks; i++)
        {
            chosen.Add(items[_random.Next(items.Length)]);
        }

        return chosen;
    }
}
