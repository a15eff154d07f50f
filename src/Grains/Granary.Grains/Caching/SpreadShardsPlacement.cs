using Orleans.Placement;

namespace Granary.Caching;

/// <summary>
/// Places the shards of one cache round-robin over the silos: shard <c>i</c> of cache <c>c</c> (grain key
/// <c>c/i</c>) goes to silo <c>(hash(c) + i) mod n</c> of the compatible silos in address order, so the
/// shards of a cache spread evenly (8 shards on 3 silos: 3, 3 and 2) wherever the first call comes from.
/// Orleans' default (resource-optimised placement) prefers the calling silo while the silos' load
/// figures are alike, which in a fresh cluster put every shard of a cache on the silo that served the
/// first client. Activations already placed stay where they are; a shard activated again (after its
/// silo left, or after a reshard) is placed by the same rule over the silos of that moment.
/// </summary>
[GenerateSerializer]
[Immutable]
[Alias("granary.caching.spread-shards-placement")]
public sealed class SpreadShardsPlacement : PlacementStrategy
{
    /// <summary>The one instance.</summary>
    public static SpreadShardsPlacement Instance { get; } = new();
}

/// <summary>Marks a grain class whose key is <c>name/index</c> to be placed by <see cref="SpreadShardsPlacement"/>.</summary>
[AttributeUsage(AttributeTargets.Class, AllowMultiple = false)]
public sealed class SpreadShardsPlacementAttribute() : PlacementAttribute(SpreadShardsPlacement.Instance);
