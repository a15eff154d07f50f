using System.Globalization;
using System.Text;

namespace Granary.Server.Storage;

/// <summary>
/// The placement key of a grain's state: the same triple (N0, N1, extension string) that the
/// AdoNet provider stores in each row, so a row found in a shard can be routed again on its own
/// (the rebalance needs that) and the router never depends on grain type names.
/// </summary>
public readonly record struct ShardKey(long N0, long N1, string? Extension)
{
    /// <summary>The key of a grain, computed the way the AdoNet provider lays out its row.</summary>
    public static ShardKey From(GrainId grainId)
    {
        if (grainId.TryGetGuidKey(out var guid, out var ext))
        {
            var bytes = guid.ToByteArray();
            return new ShardKey(BitConverter.ToInt64(bytes, 0), BitConverter.ToInt64(bytes, 8), ext);
        }

        if (grainId.TryGetIntegerKey(out var integer, out ext))
        {
            return new ShardKey(0, integer, ext);
        }

        return new ShardKey(0, 0, grainId.Key.ToString());
    }

    /// <summary>The canonical string hashed onto the ring.</summary>
    public string RoutingString()
    {
        var sb = new StringBuilder(48);
        sb.Append(N0.ToString(CultureInfo.InvariantCulture)).Append(':')
          .Append(N1.ToString(CultureInfo.InvariantCulture)).Append(':')
          .Append(Extension ?? string.Empty);
        return sb.ToString();
    }
}
