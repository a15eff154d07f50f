namespace Granary.Queues;

/// <summary>
/// Durable rows of queue partitions. One row per message (keyed by partition and sequence) plus one
/// small head row per partition (its fencing epoch and write count), so a write touches only the
/// rows of the messages it changes: its cost does not grow with the partition's depth.
/// </summary>
public interface IQueueMessageStore
{
    /// <summary>
    /// Takes ownership of a partition (bumps its epoch, fencing any older owner) and reads its
    /// unsettled rows plus settled rows newer than <paramref name="settledSince"/> (for deduplication),
    /// and the highest sequence of any row it still holds (read or not).
    /// </summary>
    Task<QueuePartitionSnapshot> OpenAsync(string partition, DateTimeOffset settledSince, CancellationToken cancellationToken);

    /// <summary>
    /// Writes a batch of changes atomically if <paramref name="epoch"/> is still the partition's epoch,
    /// else throws <see cref="QueuePartitionFencedException"/>. With <paramref name="deleteSettledBefore"/>
    /// also deletes settled rows older than that. An exception does not prove that nothing was
    /// written: a commit whose answer was lost throws too, so the caller must not assume either outcome.
    /// </summary>
    Task WriteAsync(string partition, long epoch, IReadOnlyList<QueuePartitionChange> changes, DateTimeOffset? deleteSettledBefore, CancellationToken cancellationToken);
}

/// <summary>What <see cref="IQueueMessageStore.OpenAsync"/> read.</summary>
/// <param name="Epoch">The new owner's epoch.</param>
/// <param name="Messages">Unsettled rows and recently settled ones.</param>
/// <param name="HighestSequence">
/// The highest sequence of any row of the partition, including settled rows too old to be read that
/// are not deleted yet (0 when there is none): new appends must number above it.
/// </param>
public sealed record QueuePartitionSnapshot(long Epoch, IReadOnlyList<StoredQueueMessage> Messages, long HighestSequence = 0);

/// <summary>A newer owner of the partition exists (another activation opened it): this one must stop writing.</summary>
public sealed class QueuePartitionFencedException : Exception
{
    /// <summary>Creates the error.</summary>
    public QueuePartitionFencedException(string partition, long epoch)
        : base($"queue partition '{partition}' was opened by a newer owner than epoch {epoch}")
    {
    }

    /// <summary>Creates the error.</summary>
    public QueuePartitionFencedException()
        : base("queue partition fenced")
    {
    }

    /// <summary>Creates the error.</summary>
    public QueuePartitionFencedException(string message, Exception innerException)
        : base(message, innerException)
    {
    }
}
