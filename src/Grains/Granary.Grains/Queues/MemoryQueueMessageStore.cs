namespace Granary.Queues;

/// <summary>
/// <see cref="IQueueMessageStore"/> in process memory: same contract as the PostgreSQL store, lost
/// with the process. For the embedded default and fast tests.
/// </summary>
public sealed class MemoryQueueMessageStore : IQueueMessageStore
{
    private readonly Lock _lock = new();
    private readonly Dictionary<string, Partition> _partitions = new(StringComparer.Ordinal);

    /// <inheritdoc/>
    public Task<QueuePartitionSnapshot> OpenAsync(string partition, DateTimeOffset settledSince, CancellationToken cancellationToken)
    {
        lock (_lock)
        {
            if (!_partitions.TryGetValue(partition, out var p))
            {
                p = new Partition();
                _partitions.Add(partition, p);
            }

            p.Epoch++;
            var rows = p.Rows.Values.Where(r => !r.Settled || r.SettledAt >= settledSince).ToList();
            return Task.FromResult(new QueuePartitionSnapshot(p.Epoch, rows, p.Rows.Count == 0 ? 0 : p.Rows.Keys.Last()));
        }
    }

    /// <inheritdoc/>
    public Task WriteAsync(string partition, long epoch, IReadOnlyList<QueuePartitionChange> changes, DateTimeOffset? deleteSettledBefore, CancellationToken cancellationToken)
    {
        ArgumentNullException.ThrowIfNull(changes);
        lock (_lock)
        {
            if (!_partitions.TryGetValue(partition, out var p) || p.Epoch != epoch)
            {
                throw new QueuePartitionFencedException(partition, epoch);
            }

            foreach (var change in changes)
            {
                switch (change.Kind)
                {
                    case QueueChangeKind.Append:
                        p.Rows[change.Sequence] = new StoredQueueMessage(change.Sequence, change.Id, change.Key, change.Body, change.EnqueuedAt, change.VisibleAt, change.Deliveries, QueueMessageStatus.Ready, false, default);
                        break;
                    case QueueChangeKind.Settle when p.Rows.TryGetValue(change.Sequence, out var row):
                        p.Rows[change.Sequence] = row with { Body = null, Settled = true, SettledAt = change.At };
                        break;
                    case QueueChangeKind.Update when p.Rows.TryGetValue(change.Sequence, out var row):
                        p.Rows[change.Sequence] = row with { VisibleAt = change.VisibleAt, Deliveries = change.Deliveries, Status = change.Status };
                        break;
                    case QueueChangeKind.Delete:
                        p.Rows.Remove(change.Sequence);
                        break;
                }
            }

            if (deleteSettledBefore is { } cutoff)
            {
                foreach (var old in p.Rows.Values.Where(r => r.Settled && r.SettledAt < cutoff).Select(r => r.Sequence).ToList())
                {
                    p.Rows.Remove(old);
                }
            }
        }

        return Task.CompletedTask;
    }

    private sealed class Partition
    {
        public long Epoch { get; set; }

        public SortedDictionary<long, StoredQueueMessage> Rows { get; } = [];
    }
}
