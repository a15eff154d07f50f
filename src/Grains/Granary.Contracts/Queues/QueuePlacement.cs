using Granary.Identity;

namespace Granary.Queues;

/// <summary>Where messages go: the same key (or, without a key, the same message id) always lands in the same partition.</summary>
public static class QueuePlacement
{
    /// <summary>Partition of a message: stable hash of its key, or of its id when it has no key.</summary>
    public static int PartitionFor(string? key, string id, int partitions)
    {
        ArgumentOutOfRangeException.ThrowIfLessThan(partitions, 1);
        return (int)(Granary.Hashing.StableHash.Hash64(key ?? id) % (ulong)partitions);
    }

    /// <summary>Grain key of a partition: <c>&lt;queue&gt;/&lt;partition&gt;</c>.</summary>
    public static string PartitionKey(string queue, int partition) => IndexedKey.Format(queue, partition);

    /// <summary>Splits a partition grain key.</summary>
    public static (string Queue, int Partition) ParsePartitionKey(string key)
    {
        ArgumentNullException.ThrowIfNull(key);
        if (!IndexedKey.TryParse(key, out var queue, out var partition))
        {
            throw new Errors.InvalidRequestException("partition", $"'{key}' is not <queue>/<partition>");
        }

        return (queue, partition);
    }
}
