using Granary.Hashing;

namespace Granary.Server.Storage;

/// <summary>Places grain state on shards with the consistent hash ring (one weight-1 node per shard).</summary>
public sealed class ShardRouter
{
    /// <summary>Creates a router over <paramref name="shardCount"/> shards named <c>shard-0..n-1</c>.</summary>
    public ShardRouter(int shardCount, int virtualNodesPerShard = ConsistentHashRing.DefaultVirtualNodesPerWeight)
    {
        ArgumentOutOfRangeException.ThrowIfLessThan(shardCount, 1);
        ShardCount = shardCount;
        Ring = ConsistentHashRing.Create(Enumerable.Range(0, shardCount).Select(StorageNames.Shard), virtualNodesPerShard);
    }

    /// <summary>Number of shards.</summary>
    public int ShardCount { get; }

    /// <summary>The ring snapshot in use.</summary>
    public ConsistentHashRing Ring { get; }

    /// <summary>The shard name that owns this key.</summary>
    public string ShardFor(ShardKey key) => Ring.GetNode(key.RoutingString());

    /// <summary>The shard name that owns this grain's state.</summary>
    public string ShardFor(GrainId grainId) => ShardFor(ShardKey.From(grainId));
}
