using System.Collections.Frozen;
using Granary.Security;

namespace Granary.Server.Security;

/// <summary>
/// The configuration names of <see cref="Permission"/> values (<c>cache:read</c>, <c>queue:admin</c>, ...),
/// the family wildcards (<c>cache:*</c>) and <c>*</c> (every permission), and the set of permissions an
/// identity holds as a bit mask (one bit per <see cref="Permission"/> value).
/// </summary>
public static class PermissionNames
{
    // Each name is the value's two words as "family:verb" (CacheRead is cache:read), so a permission
    // added to the enum is configurable at once.
    private static readonly FrozenDictionary<Permission, string> Names = Enum.GetValues<Permission>()
        .Where(p => p != Permission.Internal)
        .ToFrozenDictionary(p => p, ConfigName);

    private static readonly FrozenDictionary<string, ulong> Masks = BuildMasks();

    /// <summary>Every permission a client identity can hold (all but <see cref="Permission.Internal"/>).</summary>
    public static IReadOnlyList<Permission> Grantable { get; } = [.. Enum.GetValues<Permission>().Where(p => p != Permission.Internal)];

    /// <summary>The mask of every grantable permission (what <c>*</c> grants).</summary>
    public static ulong All { get; } = Names.Keys.Aggregate(0UL, (mask, p) => mask | Bit(p));

    private static ulong AdminMask { get; } = Grantable.Where(p => Names[p].EndsWith(":admin", StringComparison.Ordinal)).Aggregate(0UL, (mask, p) => mask | Bit(p));

    /// <summary>The name of <paramref name="permission"/> (<c>cache:read</c>); <c>internal</c> for <see cref="Permission.Internal"/>.</summary>
    public static string NameOf(Permission permission) => Names.GetValueOrDefault(permission, "internal");

    /// <summary>True for the admin permissions, whose allowed calls are audited (logged and counted).</summary>
    public static bool IsAdmin(Permission permission) => (AdminMask & Bit(permission)) != 0;

    /// <summary>The bit of <paramref name="permission"/> in a mask.</summary>
    public static ulong Bit(Permission permission) => 1UL << (int)permission;

    /// <summary>True when <paramref name="mask"/> holds <paramref name="permission"/> (never <see cref="Permission.Internal"/>).</summary>
    public static bool Holds(ulong mask, Permission permission) => permission != Permission.Internal && (mask & Bit(permission)) != 0;

    /// <summary>
    /// The mask a configured name grants: a permission name (<c>queue:produce</c>), a family wildcard
    /// (<c>queue:*</c>) or <c>*</c>; any case. False for an unknown name.
    /// </summary>
    public static bool TryParse(string? name, out ulong mask)
    {
        mask = 0;
        return name is not null && Masks.TryGetValue(name.Trim(), out mask);
    }

    private static string ConfigName(Permission permission)
    {
        var word = permission.ToString();
        var split = word.IndexOfAny("ABCDEFGHIJKLMNOPQRSTUVWXYZ".ToCharArray(), 1);
        return string.Concat(word[..split].Select(char.ToLowerInvariant)) + ":" + string.Concat(word[split..].Select(char.ToLowerInvariant));
    }

    private static FrozenDictionary<string, ulong> BuildMasks()
    {
        var masks = new Dictionary<string, ulong>(StringComparer.OrdinalIgnoreCase) { ["*"] = 0 };
        foreach (var (permission, name) in Names)
        {
            var bit = Bit(permission);
            masks[name] = bit;
            var family = name[..name.IndexOf(':', StringComparison.Ordinal)] + ":*";
            masks[family] = masks.GetValueOrDefault(family) | bit;
            masks["*"] |= bit;
        }

        return masks.ToFrozenDictionary(StringComparer.OrdinalIgnoreCase);
    }
}
