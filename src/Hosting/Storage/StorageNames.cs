using System.Globalization;

namespace Granary.Server.Storage;

/// <summary>Names of the grain storage providers Granary registers. Grains refer to these, never to literals.</summary>
public static class StorageNames
{
    /// <summary>The store every Granary grain uses: sharded PostgreSQL or memory, by configuration.</summary>
    public const string Default = Granary.GranaryStorage.Default;

    /// <summary>The shard name used on the placement ring and as the inner provider's name.</summary>
    public static string Shard(int index) => string.Create(CultureInfo.InvariantCulture, $"shard-{index}");
}
