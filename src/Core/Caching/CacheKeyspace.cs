using Granary.Collections;

namespace Granary.Caching;

/// <summary>
/// One shard's keyspace with Redis semantics: strings, hashes, lists, sets and sorted sets; TTLs
/// with lazy and active expiry; a memory bound with eviction; Memcached-style CAS versions; and
/// Redis's exact reply and error texts. Not thread-safe: one owner (a grain activation) drives it.
/// </summary>
/// <example><code>
/// var keyspace = new CacheKeyspace(new CacheKeyspaceOptions { MaxMemoryBytes = 64 &lt;&lt; 20 }, TimeProvider.System);
/// keyspace.Execute(["SET", "user:42", "ada", "EX", "60"]);   // OK
/// keyspace.Execute(["INCR", "user:42"]);                      // ERR value is not an integer or out of range
/// </code></example>
public sealed partial class CacheKeyspace
{
    // Flags of the module tables: a write that may grow memory, a write that cannot (deletes, TTL changes),
    // a read, a command on the whole keyspace, and a multi-key command whose keys must share a shard.
    private const CacheCommandFlags W = CacheCommandFlags.Write | CacheCommandFlags.DenyOom;
    private const CacheCommandFlags D = CacheCommandFlags.Write;
    private const CacheCommandFlags R = CacheCommandFlags.ReadOnly;
    private const CacheCommandFlags All = CacheCommandFlags.AllShards;
    private const CacheCommandFlags S = CacheCommandFlags.SameShard;

    private const byte LfuInitial = 5;
    private const int LfuLogFactor = 10;
    private const long EntryOverhead = 80;

    private readonly Dictionary<string, CacheEntry> _entries = new(StringComparer.Ordinal);
    private readonly List<CacheEntry> _all = [];
    private readonly List<CacheEntry> _volatile = [];
    private readonly TimeProvider _time;
    private readonly Random _random;
    private long _now;
    private long _clock;
    private long _version;
    private long _used;
    private long _hits;
    private long _misses;
    private long _evictions;
    private long _expirations;
    private long _commands;
    private long _oomRejections;
    private long _changes;
    private long _faults;
    private bool _clockHeld;

    private static readonly CacheReply WrongTypeReply = CacheReply.Error(RedisText.WrongType);
    private static readonly CacheReply NotIntegerReply = CacheReply.Error(RedisText.NotInteger);
    private static readonly CacheReply NotFloatReply = CacheReply.Error(RedisText.NotFloat);
    private static readonly CacheReply SyntaxReply = CacheReply.Error(RedisText.Syntax);

    /// <summary>Creates an empty keyspace.</summary>
    public CacheKeyspace(CacheKeyspaceOptions options, TimeProvider time)
    {
        ArgumentNullException.ThrowIfNull(options);
        ArgumentNullException.ThrowIfNull(time);
        ArgumentOutOfRangeException.ThrowIfLessThan(options.MaxMemoryBytes, 1);
        ArgumentOutOfRangeException.ThrowIfLessThan(options.EvictionSamples, 1);
        ArgumentOutOfRangeException.ThrowIfLessThan(options.MaxKeyLength, 1);
        ArgumentOutOfRangeException.ThrowIfLessThan(options.MaxValueLength, 1);
        ArgumentOutOfRangeException.ThrowIfLessThan(options.MaxPatternLength, 1);
        ArgumentOutOfRangeException.ThrowIfLessThan(options.MaxPatternWildcards, 1);
        ArgumentOutOfRangeException.ThrowIfLessThan(options.MaxScanCount, 1);
        ArgumentOutOfRangeException.ThrowIfLessThan(options.MaxKeysPerKeysCommand, 1);
        ArgumentOutOfRangeException.ThrowIfLessThan(options.MaxRandomCount, 1);
        Options = options;
        _time = time;
        _random = new Random(options.RandomSeed);
        _now = time.GetUtcNow().ToUnixTimeMilliseconds();
    }

    /// <summary>The settings.</summary>
    public CacheKeyspaceOptions Options { get; private set; }

    /// <summary>Number of keys held (expired keys not yet reclaimed included).</summary>
    public int Count => _entries.Count;

    /// <summary>Slots of the key table: the largest number of keys it holds without growing (memory diagnostics).</summary>
    public int KeyTableSlots => _entries.Capacity;

    /// <summary>Estimated bytes used.</summary>
    public long UsedBytes => _used;

    /// <summary>The counters.</summary>
    public CacheStatistics Statistics => new()
    {
        Keys = _entries.Count,
        KeysWithTtl = _volatile.Count,
        UsedBytes = _used,
        MaxMemoryBytes = Options.MaxMemoryBytes,
        Hits = _hits,
        Misses = _misses,
        Evictions = _evictions,
        Expirations = _expirations,
        Commands = _commands,
        OutOfMemoryRejections = _oomRejections,
    };

    /// <summary>Changes the memory bound or policy of a live keyspace (takes effect at the next write).</summary>
    public void Reconfigure(CacheKeyspaceOptions options)
    {
        ArgumentNullException.ThrowIfNull(options);
        ArgumentOutOfRangeException.ThrowIfLessThan(options.MaxMemoryBytes, 1);
        Options = options;
    }

    /// <summary>Runs one command given as Redis arguments (name first) and returns Redis's reply.</summary>
    public CacheReply Execute(IReadOnlyList<string> args)
    {
        ArgumentNullException.ThrowIfNull(args);
        LastCommandChanged = false;
        if (args.Count == 0 || args[0] is null)
        {
            return CacheReply.Error("ERR empty command");
        }

        var info = CacheCommandTable.Find(args[0]);
        if (info is null)
        {
            return CacheReply.Error(RedisText.UnknownCommand(args));
        }

        if (!info.ArityFits(args.Count))
        {
            return CacheReply.Error(RedisText.Arity(info.Name));
        }

        if (ArgumentProblem(args, info) is { } problem)
        {
            return problem;
        }

        if (!_clockHeld)
        {
            _now = _time.GetUtcNow().ToUnixTimeMilliseconds();
        }

        _commands++;
        if ((info.Flags & CacheCommandFlags.DenyOom) != 0 && !FreeMemoryIfNeeded())
        {
            _oomRejections++;
            return CacheReply.Error(RedisText.OutOfMemory);
        }

        var changesBefore = _changes;
        try
        {
            return info.Handler(this, args);
        }
        catch (Exception ex)
        {
            // A fault in one command (a bug, or an allocation that failed) is that command's error reply:
            // it must never fail the other commands of the batch it arrived in.
            _faults++;
            LastFault = ex;
            return CacheReply.Error($"ERR internal error in '{info.Name.ToLowerInvariant()}': {ex.GetType().Name}");
        }
        finally
        {
            LastCommandChanged = _changes != changesBefore;
        }
    }

    /// <summary>
    /// Reads the clock once for the commands run until <see cref="ReleaseClock"/>: the commands of one batch
    /// see one instant (the batch runs in microseconds), as the commands of a transaction or a script see
    /// one in Redis, and the clock is not read per command.
    /// </summary>
    public void HoldClock()
    {
        _now = _time.GetUtcNow().ToUnixTimeMilliseconds();
        _clockHeld = true;
    }

    /// <summary>Ends <see cref="HoldClock"/>: each command reads the clock again.</summary>
    public void ReleaseClock() => _clockHeld = false;

    /// <summary>The error for an argument the keyspace refuses (null, too long, not storable, a key too long), or null.</summary>
    private CacheReply? ArgumentProblem(IReadOnlyList<string> args, CacheCommandInfo info)
    {
        var maxValue = Options.MaxValueLength;
        for (var i = 1; i < args.Count; i++)
        {
            var arg = args[i];
            if (arg is null)
            {
                return CacheReply.Error("ERR null argument");
            }

            if (arg.Length > maxValue)
            {
                return CacheReply.Error(RedisText.ValueTooLarge);
            }

            if (Granary.Text.StorableText.Problem(arg) is { } problem)
            {
                return CacheReply.Error(RedisText.NotStorable(i, problem));
            }
        }

        var maxKey = Options.MaxKeyLength;
        if (info.FirstKey > 0 && info.LastKey == info.FirstKey && !info.HasMovableKeys)
        {
            // One key (GET, SET and most commands): checked without walking a key list.
            return info.FirstKey < args.Count && args[info.FirstKey].Length > maxKey
                ? CacheReply.Error(RedisText.KeyTooLong(args[info.FirstKey].Length, maxKey))
                : null;
        }

        foreach (var k in info.KeyIndexes(args))
        {
            if (args[k].Length > maxKey)
            {
                return CacheReply.Error(RedisText.KeyTooLong(args[k].Length, maxKey));
            }
        }

        return null;
    }

    /// <summary>
    /// True when the last <see cref="Execute(IReadOnlyList{string})"/> changed keys or TTLs (a write that
    /// did something, or a lazily reclaimed expired key); false for reads, no-op writes and error replies,
    /// which are checked before anything is changed.
    /// </summary>
    public bool LastCommandChanged { get; private set; }

    /// <summary>
    /// Called with each key that leaves the keyspace, however it leaves: expiry (lazy or active), eviction,
    /// DEL, FLUSHALL, replacement by a value of another type, or a hand-over to another shard. The owner uses
    /// it to forget what it keeps per key, so that nothing it keeps outlives the keys.
    /// </summary>
    public Action<string>? KeyRemoved { get; set; }

    /// <summary>Commands that failed inside the engine and were answered with an internal-error reply.</summary>
    public long Faults => _faults;

    /// <summary>The exception of the last such command, for logs.</summary>
    public Exception? LastFault { get; private set; }

    /// <summary>Convenience overload.</summary>
    public CacheReply Execute(params string[] args) => Execute((IReadOnlyList<string>)args);

    /// <summary>
    /// One active-expiry cycle, like Redis's: samples keys that have a TTL and reclaims the expired
    /// ones, repeating while more than a quarter of a sample was expired; then gives back the memory
    /// of tables less than an eighth full (<see cref="SparseTrim"/>). Returns keys reclaimed.
    /// </summary>
    public int ExpireCycle(int samplesPerRound = 20, int maxRounds = 16)
    {
        _now = _time.GetUtcNow().ToUnixTimeMilliseconds();
        var reclaimed = 0;
        for (var round = 0; round < maxRounds && _volatile.Count > 0; round++)
        {
            var expiredThisRound = 0;
            var samples = Math.Min(samplesPerRound, _volatile.Count);
            for (var i = 0; i < samples && _volatile.Count > 0; i++)
            {
                var entry = _volatile[_random.Next(_volatile.Count)];
                if (IsExpired(entry))
                {
                    RemoveEntry(entry);
                    _expirations++;
                    expiredThisRound++;
                }
            }

            reclaimed += expiredThisRound;
            if (expiredThisRound * 4 <= samples)
            {
                break;
            }
        }

        // The tables keep the size of the keyspace's largest moment; once a burst of keys has gone
        // they are rebuilt at the size of what is left.
        SparseTrim.TrimIfSparse(_entries);
        SparseTrim.TrimIfSparse(_all);
        SparseTrim.TrimIfSparse(_volatile);
        return reclaimed;
    }

    /// <summary>Every live key and its stable-hash position (for resharding and tests).</summary>
    public IEnumerable<string> LiveKeys()
    {
        _now = _time.GetUtcNow().ToUnixTimeMilliseconds();
        return _entries.Values.Where(e => !IsExpired(e)).Select(e => e.Key).ToList();
    }

    /// <summary>
    /// The command modules, one per data type, each declared in the file that holds its handlers;
    /// <see cref="CacheCommandTable"/> is built from them once.
    /// </summary>
    internal static CacheCommandModule[] CommandModules() =>
        [StringCommands(), KeyCommands(), ServerCommands(), HashCommands(), ListCommands(), SetCommands(), SortedSetCommands(), MemcachedCommands(), ConditionalCommands()];

    private static bool Is(string text, string option) => string.Equals(text, option, StringComparison.OrdinalIgnoreCase);

    private bool IsExpired(CacheEntry entry) => entry.ExpiresAt >= 0 && entry.ExpiresAt < _now;

    /// <summary>Finds a key for writing, reclaiming it when expired.</summary>
    private CacheEntry? LookupWrite(string key)
    {
        if (!_entries.TryGetValue(key, out var entry))
        {
            return null;
        }

        if (IsExpired(entry))
        {
            RemoveEntry(entry);
            _expirations++;
            return null;
        }

        Touch(entry);
        return entry;
    }

    /// <summary>Finds a key for reading, counting a hit or a miss.</summary>
    private CacheEntry? LookupRead(string key)
    {
        var entry = LookupWrite(key);
        if (entry is null)
        {
            _misses++;
        }
        else
        {
            _hits++;
        }

        return entry;
    }

    private void Touch(CacheEntry entry)
    {
        entry.LastAccess = ++_clock;
        if (Options.EvictionPolicy != EvictionPolicy.Lfu)
        {
            // The access counter is kept under the LFU policy only, as in Redis (OBJECT FREQ asks for it).
            return;
        }

        var minutes = _now / 60_000;
        var elapsed = minutes - entry.FrequencyMinutes;
        if (elapsed > 0)
        {
            entry.Frequency = (byte)Math.Max(0, entry.Frequency - Math.Min(elapsed, 255));
            entry.FrequencyMinutes = minutes;
        }

        if (entry.Frequency < 255)
        {
            var baseline = Math.Max(0, entry.Frequency - LfuInitial);
            var p = 1.0 / ((baseline * LfuLogFactor) + 1);
            if (_random.NextDouble() < p)
            {
                entry.Frequency++;
            }
        }
    }

    private CacheEntry AddEntry(string key, CacheValueType type, object value)
    {
        var entry = new CacheEntry(key, type, value)
        {
            Version = ++_version,
            LastAccess = ++_clock,
            Frequency = LfuInitial,
            FrequencyMinutes = _now / 60_000,
            AccessedAt = (uint)(_now / 1000),
            Size = EntryOverhead + (2L * key.Length),
            Slot = _all.Count,
        };
        _entries.Add(key, entry);
        _all.Add(entry);
        _used += entry.Size;
        IndexAdded(key);
        _changes++;
        KeyChanged(key);
        return entry;
    }

    private void RemoveEntry(CacheEntry entry)
    {
        _entries.Remove(entry.Key);
        RemoveSlot(_all, entry, volatileIndex: false);
        if (entry.VolatileSlot >= 0)
        {
            RemoveSlot(_volatile, entry, volatileIndex: true);
        }

        _used -= entry.Size;
        IndexRemoved(entry.Key);
        _changes++;
        KeyChanged(entry.Key);
        KeyRemoved?.Invoke(entry.Key);
    }

    private static void RemoveSlot(List<CacheEntry> index, CacheEntry entry, bool volatileIndex)
    {
        var slot = volatileIndex ? entry.VolatileSlot : entry.Slot;
        var last = index[^1];
        index[slot] = last;
        if (volatileIndex)
        {
            last.VolatileSlot = slot;
            entry.VolatileSlot = -1;
        }
        else
        {
            last.Slot = slot;
            entry.Slot = -1;
        }

        index.RemoveAt(index.Count - 1);
    }

    private void SetExpiry(CacheEntry entry, long expiresAt)
    {
        _changes++;
        KeyChanged(entry.Key);
        entry.ExpiresAt = expiresAt;
        if (expiresAt >= 0 && entry.VolatileSlot < 0)
        {
            entry.VolatileSlot = _volatile.Count;
            _volatile.Add(entry);
        }
        else if (expiresAt < 0 && entry.VolatileSlot >= 0)
        {
            RemoveSlot(_volatile, entry, volatileIndex: true);
        }
    }

    /// <summary>Records a write: a new CAS version and the size change.</summary>
    private void Written(CacheEntry entry, long sizeDelta = 0)
    {
        entry.Version = ++_version;
        entry.Flags = 0;
        entry.Marks = 0;
        entry.AccessedAt = (uint)(_now / 1000);
        _changes++;
        KeyChanged(entry.Key);
        entry.Size += sizeDelta;
        _used += sizeDelta;
    }

    private bool FreeMemoryIfNeeded()
    {
        while (_used > Options.MaxMemoryBytes)
        {
            if (Options.EvictionPolicy == EvictionPolicy.NoEviction || _all.Count == 0)
            {
                return false;
            }

            var victim = PickVictim();
            RemoveEntry(victim);
            if (IsExpired(victim))
            {
                _expirations++;
            }
            else
            {
                _evictions++;
            }
        }

        return true;
    }

    private CacheEntry PickVictim()
    {
        var samples = Options.EvictionSamples;
        if (Options.EvictionPolicy == EvictionPolicy.TtlFirst && _volatile.Count > 0)
        {
            CacheEntry? soonest = null;
            for (var i = 0; i < samples; i++)
            {
                var candidate = _volatile[_random.Next(_volatile.Count)];
                if (soonest is null || candidate.ExpiresAt < soonest.ExpiresAt)
                {
                    soonest = candidate;
                }
            }

            return soonest!;
        }

        CacheEntry? best = null;
        for (var i = 0; i < samples; i++)
        {
            var candidate = _all[_random.Next(_all.Count)];
            if (best is null || Worse(candidate, best))
            {
                best = candidate;
            }
        }

        return best!;
    }

    private bool Worse(CacheEntry candidate, CacheEntry best)
    {
        if (Options.EvictionPolicy == EvictionPolicy.Lfu)
        {
            var a = DecayedFrequency(candidate);
            var b = DecayedFrequency(best);
            if (a != b)
            {
                return a < b;
            }
        }

        return candidate.LastAccess < best.LastAccess;
    }

    private int DecayedFrequency(CacheEntry entry)
    {
        var elapsed = (_now / 60_000) - entry.FrequencyMinutes;
        return (int)Math.Max(0, entry.Frequency - Math.Min(Math.Max(elapsed, 0), 255));
    }
}
