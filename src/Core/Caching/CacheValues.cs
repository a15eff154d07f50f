namespace Granary.Caching;

/// <summary>The type of value a key holds, as <c>TYPE</c> names it.</summary>
public enum CacheValueType
{
    /// <summary>A string (also integers and floats).</summary>
    String,

    /// <summary>A hash of fields to values.</summary>
    Hash,

    /// <summary>A list.</summary>
    List,

    /// <summary>A set.</summary>
    Set,

    /// <summary>A sorted set.</summary>
    ZSet,
}

/// <summary>One key in a <see cref="CacheKeyspace"/>.</summary>
internal sealed class CacheEntry(string key, CacheValueType type, object value)
{
    public string Key { get; } = key;

    public CacheValueType Type { get; } = type;

    public object Value { get; set; } = value;

    /// <summary>Unix milliseconds, or -1 for no expiry.</summary>
    public long ExpiresAt { get; set; } = -1;

    /// <summary>Memcached-style CAS version, changed by every write.</summary>
    public long Version { get; set; }

    /// <summary>Memcached client flags of a string, set by a memcached store (0 after any other write).</summary>
    public uint Flags { get; set; }

    /// <summary>memcached's meta marks (<see cref="CacheKeyspace"/>'s win token sent, stale, fetched, stored with a base64 key), cleared by every write.</summary>
    public byte Marks { get; set; }

    /// <summary>Unix seconds of the last write, or of a memcached fetch after the first (memcached's last access).</summary>
    public uint AccessedAt { get; set; }

    /// <summary>Logical clock of the last access (LRU).</summary>
    public long LastAccess { get; set; }

    /// <summary>Logarithmic access counter (LFU), as Redis keeps it.</summary>
    public byte Frequency { get; set; }

    /// <summary>Minutes timestamp of the last frequency decay (LFU).</summary>
    public long FrequencyMinutes { get; set; }

    /// <summary>Estimated bytes used.</summary>
    public long Size { get; set; }

    /// <summary>Position in the all-keys sample index.</summary>
    public int Slot { get; set; } = -1;

    /// <summary>Position in the keys-with-TTL sample index, or -1.</summary>
    public int VolatileSlot { get; set; } = -1;

    public string AsString => (string)Value;

    public Dictionary<string, string> AsHash => (Dictionary<string, string>)Value;

    public CacheDeque AsList => (CacheDeque)Value;

    public HashSet<string> AsSet => (HashSet<string>)Value;

    public SortedSetValue AsZSet => (SortedSetValue)Value;
}

/// <summary>A double-ended queue with O(1) push/pop at both ends and O(1) indexing (Redis lists).</summary>
internal sealed class CacheDeque
{
    private string[] _items = new string[4];
    private int _head;

    public int Count { get; private set; }

    public string this[int index]
    {
        get => _items[(_head + index) % _items.Length];
        set => _items[(_head + index) % _items.Length] = value;
    }

    public void PushFront(string item)
    {
        Grow();
        _head = (_head - 1 + _items.Length) % _items.Length;
        _items[_head] = item;
        Count++;
    }

    public void PushBack(string item)
    {
        Grow();
        _items[(_head + Count) % _items.Length] = item;
        Count++;
    }

    public string PopFront()
    {
        var item = _items[_head];
        _items[_head] = null!;
        _head = (_head + 1) % _items.Length;
        Count--;
        return item;
    }

    public string PopBack()
    {
        var index = (_head + Count - 1) % _items.Length;
        var item = _items[index];
        _items[index] = null!;
        Count--;
        return item;
    }

    /// <summary>Inserts <paramref name="item"/> so that it ends up at <paramref name="index"/> (0 to <see cref="Count"/>).</summary>
    public void Insert(int index, string item)
    {
        PushBack(item);
        for (var i = Count - 1; i > index; i--)
        {
            this[i] = this[i - 1];
        }

        this[index] = item;
    }

    /// <summary>Keeps the items for which <paramref name="keep"/> is true, in order.</summary>
    public void Retain(Func<string, int, bool> keep)
    {
        var kept = new List<string>(Count);
        for (var i = 0; i < Count; i++)
        {
            if (keep(this[i], i))
            {
                kept.Add(this[i]);
            }
        }

        _items = new string[Math.Max(4, kept.Count)];
        kept.CopyTo(_items);
        _head = 0;
        Count = kept.Count;
    }

    private void Grow()
    {
        if (Count < _items.Length)
        {
            return;
        }

        var bigger = new string[_items.Length * 2];
        for (var i = 0; i < Count; i++)
        {
            bigger[i] = this[i];
        }

        _items = bigger;
        _head = 0;
    }
}

/// <summary>A sorted set: member to score, and (score, member) order as Redis keeps it.</summary>
internal sealed class SortedSetValue
{
    public Dictionary<string, double> Scores { get; } = new(StringComparer.Ordinal);

    public SortedSet<(double Score, string Member)> Order { get; } = new(ScoreMemberComparer.Instance);

    public int Count => Scores.Count;

    public void Set(string member, double score)
    {
        // Redis keeps small sorted sets in listpacks, whose score text loses the sign of -0.
        score = score == 0 ? 0.0 : score;
        if (Scores.TryGetValue(member, out var old))
        {
            Order.Remove((old, member));
        }

        Scores[member] = score;
        Order.Add((score, member));
    }

    public bool Remove(string member)
    {
        if (!Scores.Remove(member, out var old))
        {
            return false;
        }

        Order.Remove((old, member));
        return true;
    }

    public int Rank(string member, double score) => Order.GetViewBetween(Order.Min, (score, member)).Count - 1;

    private sealed class ScoreMemberComparer : IComparer<(double Score, string Member)>
    {
        public static readonly ScoreMemberComparer Instance = new();

        public int Compare((double Score, string Member) x, (double Score, string Member) y)
        {
            var c = x.Score.CompareTo(y.Score);
            return c != 0 ? c : CacheBytes.Compare(x.Member, y.Member);
        }
    }
}
