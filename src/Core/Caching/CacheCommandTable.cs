using System.Collections.Frozen;

namespace Granary.Caching;

/// <summary>Properties of a command that matter for routing and memory control.</summary>
[Flags]
public enum CacheCommandFlags
{
    /// <summary>Nothing special.</summary>
    None = 0,

    /// <summary>Changes data.</summary>
    Write = 1,

    /// <summary>May grow memory: refused with OOM under no-eviction when memory is full.</summary>
    DenyOom = 2,

    /// <summary>Reads only.</summary>
    ReadOnly = 4,

    /// <summary>Concerns the whole keyspace (SCAN, KEYS, DBSIZE, FLUSHALL): fanned out to every shard.</summary>
    AllShards = 8,

    /// <summary>
    /// A multi-key command that runs on one shard only (RENAME, COPY, SINTER, MSETNX, ...): its keys must all
    /// live on one shard, otherwise it is refused with <see cref="RedisText.CrossSlot"/>, as Redis Cluster refuses
    /// keys of different slots. Multi-key commands without it (MGET, MSET, DEL, EXISTS) are split by shard.
    /// </summary>
    SameShard = 16,
}

/// <summary>
/// One command as the table declares it: its Redis arity (positive = exact, negative = at least), its flags,
/// its key positions (first, last (-1 = to the end), step; first 0 = no keys), as in Redis's command table,
/// and the keyspace handler that runs it.
/// </summary>
public sealed record CacheCommandInfo
{
    internal CacheCommandInfo(string name, int arity, CacheCommandFlags flags, int firstKey, int lastKey, int step, Func<CacheKeyspace, IReadOnlyList<string>, CacheReply> handler, int numKeysIndex = 0)
    {
        NumKeysIndex = numKeysIndex;
        Name = name;
        Arity = arity;
        Flags = flags;
        FirstKey = firstKey;
        LastKey = lastKey;
        Step = step;
        Handler = handler;
    }

    /// <summary>Upper-case name.</summary>
    public string Name { get; }

    /// <summary>Redis arity, the name included: positive = exactly, negative = at least its absolute value.</summary>
    public int Arity { get; }

    /// <summary>Routing and memory-control properties.</summary>
    public CacheCommandFlags Flags { get; }

    /// <summary>Index of the first key argument; 0 when the command has none.</summary>
    public int FirstKey { get; }

    /// <summary>Index of the last key argument; negative counts from the end (-1 = the last argument).</summary>
    public int LastKey { get; }

    /// <summary>Distance between key arguments (2 for MSET's key value pairs).</summary>
    public int Step { get; }

    /// <summary>
    /// For a command whose keys are counted by an argument (<c>LMPOP numkeys key ...</c>, <c>SINTERCARD</c>):
    /// the index of that count, the keys following it; 0 otherwise. Such a command has movable keys
    /// (<see cref="FirstKey"/> is the first key; the last is found in the arguments).
    /// </summary>
    public int NumKeysIndex { get; }

    /// <summary>True when the keys' positions depend on the arguments (a numkeys argument).</summary>
    public bool HasMovableKeys => NumKeysIndex > 0;

    /// <summary>True for a command that changes data (persistence marks its keys dirty).</summary>
    public bool IsWrite => (Flags & CacheCommandFlags.Write) != 0;

    /// <summary>True for a multi-key command whose keys must all live on one shard.</summary>
    public bool IsSameShard => (Flags & CacheCommandFlags.SameShard) != 0;

    /// <summary>True for a command on the whole keyspace, fanned out to every shard.</summary>
    public bool IsAllShards => (Flags & CacheCommandFlags.AllShards) != 0;

    /// <summary>Runs the command on a keyspace once it passed the table's checks.</summary>
    internal Func<CacheKeyspace, IReadOnlyList<string>, CacheReply> Handler { get; }

    /// <summary>True when the argument count fits the arity.</summary>
    public bool ArityFits(int count) => Arity >= 0 ? count == Arity : count >= -Arity;

    /// <summary>The indexes of key arguments of <paramref name="command"/> (name first).</summary>
    public IEnumerable<int> KeyIndexes(IReadOnlyList<string> command)
    {
        ArgumentNullException.ThrowIfNull(command);
        var count = command.Count;
        if (FirstKey <= 0)
        {
            yield break;
        }

        var last = LastKey < 0 ? count + LastKey : LastKey;
        if (HasMovableKeys)
        {
            // A count that is not a positive integer, or names more keys than there are (leaving out the
            // arguments the arity requires after one key: LMPOP's direction), names no key: the command
            // then fails with Redis's error wherever it runs.
            var trailing = Math.Abs(Arity) - FirstKey - 1;
            if (NumKeysIndex >= count || !long.TryParse(command[NumKeysIndex], System.Globalization.NumberStyles.None, System.Globalization.CultureInfo.InvariantCulture, out var keys)
                || keys < 1 || keys > count - FirstKey - trailing)
            {
                yield break;
            }

            last = FirstKey + (int)keys - 1;
        }

        for (var i = FirstKey; i <= last && i < count; i += Step)
        {
            yield return i;
        }
    }

    /// <summary>The key arguments of <paramref name="command"/> (name first).</summary>
    public IEnumerable<string> Keys(IReadOnlyList<string> command)
    {
        ArgumentNullException.ThrowIfNull(command);
        return KeyIndexes(command).Select(i => command[i]);
    }
}

/// <summary>The commands of one data type (strings, keys, hashes, ...), declared next to their handlers.</summary>
public sealed class CacheCommandModule
{
    internal CacheCommandModule(string name, IReadOnlyList<CacheCommandInfo> commands)
    {
        Name = name;
        Commands = commands;
    }

    /// <summary>The data type or area, e.g. <c>strings</c>.</summary>
    public string Name { get; }

    /// <summary>Its commands.</summary>
    public IReadOnlyList<CacheCommandInfo> Commands { get; }
}

/// <summary>
/// The commands the cache understands, built once from the modules of <see cref="CacheKeyspace"/> (one per
/// data type). Every layer asks it the same questions: the client which shard a command goes to
/// (<see cref="CacheCommandInfo.Keys"/>, <see cref="CacheCommandInfo.IsAllShards"/>), the shard grain which keys
/// a write changed (<see cref="CacheCommandInfo.IsWrite"/>), the keyspace whether a command is known and its
/// arity fits, and which handler runs it.
/// </summary>
public static class CacheCommandTable
{
    /// <summary>The modules, one per data type.</summary>
    public static IReadOnlyList<CacheCommandModule> Modules { get; } = CacheKeyspace.CommandModules();

    /// <summary>Every command by upper-case name.</summary>
    public static FrozenDictionary<string, CacheCommandInfo> Commands { get; } =
        Modules.SelectMany(m => m.Commands).ToFrozenDictionary(c => c.Name, StringComparer.OrdinalIgnoreCase);

    /// <summary>Every command by its upper-case name, compared exactly (the common case of <see cref="Find"/>).</summary>
    private static readonly FrozenDictionary<string, CacheCommandInfo> ByExactName = Commands.ToFrozenDictionary(StringComparer.Ordinal);

    /// <summary>Looks a command up by name, any case (the upper-case name, as the wire endpoints pass it, first).</summary>
    public static CacheCommandInfo? Find(string name) =>
        ByExactName.TryGetValue(name, out var info) ? info : Commands.GetValueOrDefault(name);

    /// <summary>
    /// The entry of <paramref name="command"/> (name first) when the name is known and the argument count fits
    /// its arity; null otherwise (the keyspace answers such a command with Redis's error and changes nothing).
    /// </summary>
    public static CacheCommandInfo? Resolve(IReadOnlyList<string>? command) =>
        command is { Count: > 0 } && command[0] is { } name && Find(name) is { } info && info.ArityFits(command.Count) ? info : null;
}
