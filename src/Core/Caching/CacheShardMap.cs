using System.Globalization;
using Granary.Hashing;

namespace Granary.Caching;

/// <summary>How a cache places keys on its shards; chosen when the cache is defined and kept in its definition.</summary>
public enum CacheKeyPlacement
{
    /// <summary>
    /// The whole key's stable hash is looked up on the ring. Caches defined before hash slots existed keep
    /// it (their persisted keys were placed that way) until a reshard moves them to <see cref="HashSlots"/>.
    /// </summary>
    WholeKey = 0,

    /// <summary>
    /// Redis Cluster's rule: the key's hash slot (CRC16 of the key or of its <c>{hash tag}</c>, 16,384 slots)
    /// is looked up on the ring at the slot's position, so keys with one tag share a shard and a shard owns
    /// runs of consecutive slots.
    /// </summary>
    HashSlots = 1,
}

/// <summary>
/// The map from keys to shard indexes of one ring version: the consistent-hash ring of the shards
/// (virtual nodes named "0".."N-1"), read at the key's hash slot (<see cref="CacheKeyPlacement.HashSlots"/>,
/// a 16,384-entry table) or at the whole key's hash (<see cref="CacheKeyPlacement.WholeKey"/>).
/// Resharding changes only the ring, so it moves about 1/N of the slots, as it moved 1/N of the keys.
/// </summary>
/// <example><code>
/// var map = CacheShardMap.Create(4, 160, version: 1, CacheKeyPlacement.HashSlots);
/// map.ShardOf("{user:1}:cart") == map.ShardOf("{user:1}:profile");   // true
/// </code></example>
public sealed class CacheShardMap
{
    private readonly ConsistentHashRing _ring;
    private readonly int[]? _slotShards;

    private CacheShardMap(ConsistentHashRing ring, CacheKeyPlacement placement)
    {
        _ring = ring;
        Placement = placement;
        if (placement == CacheKeyPlacement.HashSlots)
        {
            _slotShards = new int[HashSlot.Count];
            for (var slot = 0; slot < HashSlot.Count; slot++)
            {
                _slotShards[slot] = ring.GetNodeIndex(HashSlot.RingPosition(slot));
            }
        }
    }

    /// <summary>How keys are placed.</summary>
    public CacheKeyPlacement Placement { get; }

    /// <summary>Number of shards.</summary>
    public int Shards => _ring.Nodes.Length;

    /// <summary>The ring version this map belongs to.</summary>
    public long Version => _ring.Version;

    /// <summary>Builds the map of <paramref name="shards"/> shards (the same in every process).</summary>
    public static CacheShardMap Create(int shards, int virtualNodesPerShard, long version, CacheKeyPlacement placement)
    {
        ArgumentOutOfRangeException.ThrowIfLessThan(shards, 1);
        if (!Enum.IsDefined(placement))
        {
            throw new ArgumentOutOfRangeException(nameof(placement), placement, "Unknown key placement.");
        }

        var ring = ConsistentHashRing.Create(
            Enumerable.Range(0, shards).Select(i => new RingNode(i.ToString(CultureInfo.InvariantCulture))),
            virtualNodesPerShard,
            version);
        return new CacheShardMap(ring, placement);
    }

    /// <summary>The shard index that owns <paramref name="key"/>.</summary>
    public int ShardOf(string key) => _slotShards is { } slots
        ? slots[HashSlot.Of(key)]
        : _ring.GetNodeIndex(StableHash.Hash64(key));

    /// <summary>
    /// The shard index that owns every key of <paramref name="slot"/>; only with
    /// <see cref="CacheKeyPlacement.HashSlots"/> (a whole-key cache spreads one slot over every shard).
    /// </summary>
    public int ShardOfSlot(int slot)
    {
        if (_slotShards is null)
        {
            throw new InvalidOperationException("This cache places whole keys, not hash slots: reshard it to place keys by hash slot.");
        }

        ArgumentOutOfRangeException.ThrowIfNegative(slot);
        ArgumentOutOfRangeException.ThrowIfGreaterThanOrEqual(slot, HashSlot.Count);
        return _slotShards[slot];
    }
}
