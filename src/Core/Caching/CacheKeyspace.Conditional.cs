namespace Granary.Caching;

/// <summary>
/// Compare-and-act commands on a string key: the two steps a lock's release and extension take (read the
/// value, act only if it is still the owner's), run as one command so that nothing can come in between.
/// <c>DELIFEQ</c> has Valkey's name and reply; <c>PEXPIREIFEQ</c> is the same check before <c>PEXPIRE</c>.
/// </summary>
public sealed partial class CacheKeyspace
{
    /// <summary>The conditional module: each command with its arity, flags, key positions and handler.</summary>
    private static CacheCommandModule ConditionalCommands() => new("conditional",
    [
        new("DELIFEQ", 3, D, 1, 1, 1, static (k, a) => k.DelIfEquals(a[1], a[2])),
        new("PEXPIREIFEQ", 4, D, 1, 1, 1, static (k, a) => k.PExpireIfEquals(a)),
    ]);

    /// <summary>DELIFEQ key value: deletes the key when it holds exactly <paramref name="value"/>; 1 if deleted, else 0.</summary>
    private CacheReply DelIfEquals(string key, string value)
    {
        var entry = LookupWrite(key);
        if (entry is null)
        {
            return CacheReply.Zero;
        }

        if (entry.Type != CacheValueType.String)
        {
            return WrongTypeReply;
        }

        if (!string.Equals(entry.AsString, value, StringComparison.Ordinal))
        {
            return CacheReply.Zero;
        }

        RemoveEntry(entry);
        return CacheReply.One;
    }

    /// <summary>
    /// PEXPIREIFEQ key value milliseconds: <c>PEXPIRE key milliseconds</c> (its reply and errors) when the key
    /// holds exactly <paramref name="a"/>[2]; 0 otherwise.
    /// </summary>
    private CacheReply PExpireIfEquals(IReadOnlyList<string> a)
    {
        var entry = LookupWrite(a[1]);
        if (entry is null)
        {
            return CacheReply.Zero;
        }

        if (entry.Type != CacheValueType.String)
        {
            return WrongTypeReply;
        }

        return string.Equals(entry.AsString, a[2], StringComparison.Ordinal)
            ? Expire([a[0], a[1], a[3]], 1)
            : CacheReply.Zero;
    }
}
