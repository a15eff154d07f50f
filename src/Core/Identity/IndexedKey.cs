using System.Globalization;

namespace Granary.Identity;

/// <summary>
/// Keys of the grains that split one named thing into numbered parts (a cache's shards, a queue's
/// partitions): <c>&lt;name&gt;/&lt;index&gt;</c>, the index a non-negative decimal number. The name
/// may itself hold <c>/</c>; the index is what follows the last one.
/// </summary>
/// <example><code>IndexedKey.Format("orders", 3) == "orders/3"; IndexedKey.TryParse("orders/3", out var name, out var index);</code></example>
public static class IndexedKey
{
    /// <summary>The key of part <paramref name="index"/> of <paramref name="name"/>.</summary>
    public static string Format(string name, int index) =>
        string.Create(CultureInfo.InvariantCulture, $"{name}/{index}");

    /// <summary>Splits <paramref name="key"/> into its name (not empty) and index; false when it is not of that form.</summary>
    public static bool TryParse(string key, out string name, out int index)
    {
        ArgumentNullException.ThrowIfNull(key);
        var slash = key.LastIndexOf('/');
        if (slash > 0 && int.TryParse(key.AsSpan(slash + 1), NumberStyles.None, CultureInfo.InvariantCulture, out index))
        {
            name = key[..slash];
            return true;
        }

        name = string.Empty;
        index = 0;
        return false;
    }
}
