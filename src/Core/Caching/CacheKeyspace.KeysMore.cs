namespace Granary.Caching;

/// <summary>Key commands that read or move whole values: EXPIRETIME, RENAME, COPY and OBJECT.</summary>
public sealed partial class CacheKeyspace
{
    private CacheReply ExpireTime(string key, long unitMs)
    {
        var entry = LookupWrite(key);
        if (entry is null)
        {
            return CacheReply.Int(-2);
        }

        return entry.ExpiresAt < 0 ? CacheReply.Int(-1) : CacheReply.Int(unitMs == 1 ? entry.ExpiresAt : (entry.ExpiresAt + 500) / 1000);
    }

    /// <summary>RENAME / RENAMENX: moves the value and its TTL to <paramref name="target"/>, replacing what was there (RENAME).</summary>
    private CacheReply Rename(string source, string target, bool onlyIfAbsent)
    {
        var entry = LookupWrite(source);
        if (entry is null)
        {
            return CacheReply.Error(RedisText.NoSuchKey);
        }

        if (string.Equals(source, target, StringComparison.Ordinal))
        {
            return onlyIfAbsent ? CacheReply.Zero : CacheReply.Ok;
        }

        if (LookupWrite(target) is { } existing)
        {
            if (onlyIfAbsent)
            {
                return CacheReply.Zero;
            }

            RemoveEntry(existing);
        }

        RemoveEntry(entry);
        Place(target, entry.Type, entry.Value, entry.Size - EntryOverhead - (2L * source.Length), entry.ExpiresAt);
        return onlyIfAbsent ? CacheReply.One : CacheReply.Ok;
    }

    /// <summary>COPY source destination [DB 0] [REPLACE]: a deep copy of the value and its TTL, in this keyspace only.</summary>
    private CacheReply Copy(IReadOnlyList<string> a)
    {
        var replace = false;
        for (var j = 3; j < a.Count; j++)
        {
            if (Is(a[j], "REPLACE"))
            {
                replace = true;
            }
            else if (Is(a[j], "DB") && j + 1 < a.Count)
            {
                if (!RedisText.TryParseInt64(a[++j], out var db) || db is < int.MinValue or > int.MaxValue)
                {
                    return NotIntegerReply;
                }

                if (db != 0)
                {
                    return CacheReply.Error("ERR Copying to another database is not allowed in cluster mode");
                }
            }
            else
            {
                return SyntaxReply;
            }
        }

        if (string.Equals(a[1], a[2], StringComparison.Ordinal))
        {
            return CacheReply.Error("ERR source and destination objects are the same");
        }

        var source = LookupRead(a[1]);
        if (source is null)
        {
            return CacheReply.Zero;
        }

        if (LookupWrite(a[2]) is { } existing)
        {
            if (!replace)
            {
                return CacheReply.Zero;
            }

            RemoveEntry(existing);
        }

        Place(a[2], source.Type, CopyValue(source), source.Size - EntryOverhead - (2L * a[1].Length), source.ExpiresAt);
        return CacheReply.One;
    }

    /// <summary>Adds a key holding <paramref name="value"/> whose own size (without the entry) is <paramref name="valueSize"/>.</summary>
    private CacheEntry Place(string key, CacheValueType type, object value, long valueSize, long expiresAt)
    {
        var entry = AddEntry(key, type, value);
        Written(entry, valueSize);
        SetExpiry(entry, expiresAt);
        return entry;
    }

    private static object CopyValue(CacheEntry entry)
    {
        switch (entry.Type)
        {
            case CacheValueType.Hash:
                return new Dictionary<string, string>(entry.AsHash, StringComparer.Ordinal);
            case CacheValueType.List:
                var list = new CacheDeque();
                var source = entry.AsList;
                for (var i = 0; i < source.Count; i++)
                {
                    list.PushBack(source[i]);
                }

                return list;
            case CacheValueType.Set:
                return new HashSet<string>(entry.AsSet, StringComparer.Ordinal);
            case CacheValueType.ZSet:
                var zset = new SortedSetValue();
                foreach (var (score, member) in entry.AsZSet.Order)
                {
                    zset.Set(member, score);
                }

                return zset;
            default:
                return entry.Value;
        }
    }

    /// <summary>
    /// OBJECT ENCODING | FREQ | IDLETIME | REFCOUNT key. ENCODING names the representation Redis 7.0 would choose for
    /// the value as it is now (Redis keeps a representation once converted, so a value that shrank may differ);
    /// FREQ needs the LFU policy, as in Redis; IDLETIME is refused, the LRU clock here counts accesses, not time.
    /// </summary>
    private CacheReply Object(IReadOnlyList<string> a)
    {
        var sub = a[1].ToUpperInvariant();
        if (sub is not ("ENCODING" or "FREQ" or "IDLETIME" or "REFCOUNT"))
        {
            return CacheReply.Error($"ERR unknown subcommand '{a[1]}'. Try OBJECT HELP.");
        }

        if (a.Count != 3)
        {
            return CacheReply.Error(RedisText.Arity("object|" + sub.ToLowerInvariant()));
        }

        if (!_entries.TryGetValue(a[2], out var entry) || IsExpired(entry))
        {
            return CacheReply.Nil;
        }

        switch (sub)
        {
            case "ENCODING":
                return CacheReply.Bulk(EncodingOf(entry));
            case "REFCOUNT":
                return CacheReply.One;
            case "IDLETIME":
                return CacheReply.Error("ERR OBJECT IDLETIME is not supported: this cache's LRU clock counts accesses, not time");
            default:
                return Options.EvictionPolicy == EvictionPolicy.Lfu
                    ? CacheReply.Int(DecayedFrequency(entry))
                    : CacheReply.Error("ERR An LFU maxmemory policy is not selected, access frequency not tracked. Please note that when switching between policies at runtime LRU and LFU data will take some time to adjust.");
        }
    }

    private static string EncodingOf(CacheEntry entry)
    {
        const int ListpackEntries = 128, ListpackValue = 64, IntsetEntries = 512, EmbstrLength = 44;
        static bool Small(string text) => CacheBytes.ByteCount(text) <= ListpackValue;
        switch (entry.Type)
        {
            case CacheValueType.String:
                var text = entry.AsString;
                return text.Length <= 20 && RedisText.TryParseInt64(text, out _) ? "int"
                    : CacheBytes.ByteCount(text) <= EmbstrLength ? "embstr" : "raw";
            case CacheValueType.Hash:
                return entry.AsHash.Count <= ListpackEntries && entry.AsHash.All(p => Small(p.Key) && Small(p.Value)) ? "listpack" : "hashtable";
            case CacheValueType.List:
                return "quicklist";
            case CacheValueType.Set:
                return entry.AsSet.Count <= IntsetEntries && entry.AsSet.All(m => RedisText.TryParseInt64(m, out _)) ? "intset" : "hashtable";
            default:
                return entry.AsZSet.Count <= ListpackEntries && entry.AsZSet.Scores.Keys.All(Small) ? "listpack" : "skiplist";
        }
    }
}
