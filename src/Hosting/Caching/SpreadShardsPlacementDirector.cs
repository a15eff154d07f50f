using Granary.Caching;
using Granary.Identity;
using Orleans.Runtime.Placement;
using StableHash = Granary.Hashing.StableHash;

namespace Granary.Server.Caching;

/// <summary>Places grains of <see cref="SpreadShardsPlacement"/>: see there.</summary>
public sealed class SpreadShardsPlacementDirector : IPlacementDirector
{
    /// <inheritdoc/>
    public Task<SiloAddress> OnAddActivation(PlacementStrategy strategy, PlacementTarget target, IPlacementContext context)
    {
        ArgumentNullException.ThrowIfNull(context);
        return Task.FromResult(Choose(target.GrainIdentity.Key.ToString()!, context.GetCompatibleSilos(target)));
    }

    /// <summary>
    /// The silo for the grain keyed <paramref name="key"/>: for <c>name/index</c>, silo
    /// <c>(hash(name) + index) mod n</c> in address order; any other key by its hash alone.
    /// </summary>
    public static SiloAddress Choose(string key, IReadOnlyList<SiloAddress> silos)
    {
        ArgumentNullException.ThrowIfNull(key);
        ArgumentNullException.ThrowIfNull(silos);
        if (silos.Count == 0)
        {
            throw new OrleansException($"no compatible silo to place '{key}' on");
        }

        var ordered = silos.Order().ToArray();
        var count = (ulong)ordered.Length;
        if (IndexedKey.TryParse(key, out var name, out var index))
        {
            var offset = StableHash.Hash64(name) % count;
            return ordered[(int)((offset + ((ulong)index % count)) % count)];
        }

        return ordered[(int)(StableHash.Hash64(key) % count)];
    }
}
