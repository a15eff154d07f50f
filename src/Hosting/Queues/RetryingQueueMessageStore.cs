using Granary.Queues;
using Granary.Server.Storage;

namespace Granary.Server.Queues;

/// <summary>
/// The PostgreSQL queue store behind the stores' <see cref="StorageRetryPolicy"/>: an open, a read or
/// a partition write that fails with a transient error (a terminated or refused connection, a server
/// restarting) is run again after a backoff, and fails with <c>UNAVAILABLE</c> when the retries run
/// out. All are safe to run again: an open only bumps the partition's epoch once more, a read
/// changes nothing, and a write cannot store a message twice (rows are keyed by partition and sequence; acks, lease updates and
/// deletes set values), even when its first run committed without the answer arriving.
/// </summary>
public sealed class RetryingQueueMessageStore(PostgresQueueMessageStore inner, StorageRetryPolicy retry) : IQueueMessageStore, IAsyncDisposable
{
    /// <summary>The store it retries.</summary>
    public PostgresQueueMessageStore Inner { get; } = inner ?? throw new ArgumentNullException(nameof(inner));

    /// <inheritdoc/>
    public Task<QueuePartitionSnapshot> OpenAsync(string partition, CancellationToken cancellationToken) =>
        retry.ExecuteAsync("queue partition open " + partition, ct => new ValueTask<QueuePartitionSnapshot>(Inner.OpenAsync(partition, ct)), Inner.ClearIdleConnections, cancellationToken);

    /// <inheritdoc/>
    public Task<IReadOnlyList<StoredQueueMessage>> ReadIndexAsync(string partition, long afterSequence, int limit, CancellationToken cancellationToken) =>
        retry.ExecuteAsync("queue partition read " + partition, ct => new ValueTask<IReadOnlyList<StoredQueueMessage>>(Inner.ReadIndexAsync(partition, afterSequence, limit, ct)), Inner.ClearIdleConnections, cancellationToken);

    /// <inheritdoc/>
    public Task<IReadOnlyList<StoredQueueMessage>> ReadPageAsync(string partition, QueuePage page, CancellationToken cancellationToken) =>
        retry.ExecuteAsync("queue partition read " + partition, ct => new ValueTask<IReadOnlyList<StoredQueueMessage>>(Inner.ReadPageAsync(partition, page, ct)), Inner.ClearIdleConnections, cancellationToken);

    /// <inheritdoc/>
    public Task<IReadOnlyDictionary<long, byte[]>> ReadBodiesAsync(string partition, IReadOnlyCollection<long> sequences, CancellationToken cancellationToken) =>
        retry.ExecuteAsync("queue partition read " + partition, ct => new ValueTask<IReadOnlyDictionary<long, byte[]>>(Inner.ReadBodiesAsync(partition, sequences, ct)), Inner.ClearIdleConnections, cancellationToken);

    /// <inheritdoc/>
    public Task WriteAsync(string partition, long epoch, IReadOnlyList<QueuePartitionChange> changes, DateTimeOffset? deleteSettledBefore, CancellationToken cancellationToken) =>
        retry.ExecuteAsync("queue partition write " + partition, ct => new ValueTask(Inner.WriteAsync(partition, epoch, changes, deleteSettledBefore, ct)), Inner.ClearIdleConnections, cancellationToken);

    /// <inheritdoc/>
    public ValueTask DisposeAsync() => Inner.DisposeAsync();
}
