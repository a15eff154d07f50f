namespace Granary.Queues;

/// <summary>
/// Durable rows of queue partitions. One row per message (keyed by partition and sequence) plus one
/// small head row per partition (its fencing epoch and write count), so a write touches only the
/// rows of the messages it changes: its cost does not grow with the partition's depth. Reads are
/// bounded too: a partition reads its rows in pages, and bodies only for the messages it is about to
/// hold in memory or deliver.
/// </summary>
public interface IQueueMessageStore
{
    /// <summary>
    /// Takes ownership of a partition (bumps its epoch, fencing any older owner) and returns the new
    /// epoch and the highest sequence of any row it still holds. Reads no message rows.
    /// </summary>
    Task<QueuePartitionSnapshot> OpenAsync(string partition, CancellationToken cancellationToken);

    /// <summary>
    /// Up to <paramref name="limit"/> rows with sequences above <paramref name="afterSequence"/>, in
    /// sequence order, settled ones included, without bodies: what a partition needs to rebuild its
    /// index (dead letters, ids for deduplication, how many messages wait in storage).
    /// </summary>
    Task<IReadOnlyList<StoredQueueMessage>> ReadIndexAsync(string partition, long afterSequence, int limit, CancellationToken cancellationToken);

    /// <summary>
    /// The unsettled rows that are not dead-lettered with sequences in
    /// (<see cref="QueuePage.After"/>, <see cref="QueuePage.Through"/>], at most
    /// <see cref="QueuePage.Limit"/>, in sequence order, with bodies.
    /// </summary>
    Task<IReadOnlyList<StoredQueueMessage>> ReadPageAsync(string partition, QueuePage page, CancellationToken cancellationToken);

    /// <summary>The bodies of these messages (sequences with no unsettled row are left out).</summary>
    Task<IReadOnlyDictionary<long, byte[]>> ReadBodiesAsync(string partition, IReadOnlyCollection<long> sequences, CancellationToken cancellationToken);

    /// <summary>
    /// Writes a batch of changes atomically if <paramref name="epoch"/> is still the partition's epoch,
    /// else throws <see cref="QueuePartitionFencedException"/>. With <paramref name="deleteSettledBefore"/>
    /// also deletes settled rows older than that. An exception does not prove that nothing was
    /// written: a commit whose answer was lost throws too, so the caller must not assume either outcome.
    /// </summary>
    Task WriteAsync(string partition, long epoch, IReadOnlyList<QueuePartitionChange> changes, DateTimeOffset? deleteSettledBefore, CancellationToken cancellationToken);
}

/// <summary>What <see cref="IQueueMessageStore.OpenAsync"/> returns.</summary>
/// <param name="Epoch">The new owner's epoch.</param>
/// <param name="HighestSequence">
/// The highest sequence of any row of the partition, including settled rows too old to matter that
/// are not deleted yet (0 when there is none): new appends must number above it.
/// </param>
public sealed record QueuePartitionSnapshot(long Epoch, long HighestSequence);

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
