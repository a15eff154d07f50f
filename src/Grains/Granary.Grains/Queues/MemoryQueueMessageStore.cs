namespace Granary.Queues;

/// <summary>
/// <see cref="IQueueMessageStore"/> in process memory: same contract as the PostgreSQL store, lost
/// with the process. For the embedded default and fast tests. It holds every body itself, so with it
/// a partition's memory window bounds the partition's share, not the process's.
/// </summary>
public sealed class MemoryQueueMessageStore : IQueueMessageStore
{
    private readonly Lock _lock = new();
    private readonly Dictionary<string, Partition> _partitions = new(StringComparer.Ordinal);

    /// <inheritdoc/>
    public Task<QueuePartitionSnapshot> OpenAsync(string partition, CancellationToken cancellationToken)
    {
        lock (_lock)
        {
            if (!_partitions.TryGetValue(partition, out var p))
            {
                p = new Partition();
                _partitions.Add(partition, p);
            }

            p.Epoch++;
            return Task.FromResult(new QueuePartitionSnapshot(p.Epoch, p.Sequences.Count == 0 ? 0 : p.Sequences.Max));
        }
    }

    /// <inheritdoc/>
    public Task<IReadOnlyList<StoredQueueMessage>> ReadIndexAsync(string partition, long afterSequence, int limit, CancellationToken cancellationToken)
    {
        lock (_lock)
        {
            IReadOnlyList<StoredQueueMessage> rows = Rows(partition, afterSequence).Take(limit).Select(r => r with { Body = null }).ToList();
            return Task.FromResult(rows);
        }
    }

    /// <inheritdoc/>
    public Task<IReadOnlyList<StoredQueueMessage>> ReadPageAsync(string partition, QueuePage page, CancellationToken cancellationToken)
    {
        ArgumentNullException.ThrowIfNull(page);
        lock (_lock)
        {
            IReadOnlyList<StoredQueueMessage> rows = Rows(partition, page.After)
                .TakeWhile(r => r.Sequence <= page.Through)
                .Where(r => !r.Settled && r.Status != QueueMessageStatus.DeadLettered)
                .Take(page.Limit)
                .ToList();
            return Task.FromResult(rows);
        }
    }

    /// <inheritdoc/>
    public Task<IReadOnlyDictionary<long, byte[]>> ReadBodiesAsync(string partition, IReadOnlyCollection<long> sequences, CancellationToken cancellationToken)
    {
        ArgumentNullException.ThrowIfNull(sequences);
        lock (_lock)
        {
            var bodies = new Dictionary<long, byte[]>();
            if (_partitions.TryGetValue(partition, out var p))
            {
                foreach (var sequence in sequences)
                {
                    if (p.Rows.TryGetValue(sequence, out var row) && !row.Settled && row.Body is { } body)
                    {
                        bodies[sequence] = body;
                    }
                }
            }

            return Task.FromResult<IReadOnlyDictionary<long, byte[]>>(bodies);
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
                        p.Put(new StoredQueueMessage(change.Sequence, change.Id, change.Key, change.Body, change.EnqueuedAt, change.VisibleAt, change.Deliveries, QueueMessageStatus.Ready, false, default, change.Deduplicated));
                        break;
                    case QueueChangeKind.Settle when p.Rows.TryGetValue(change.Sequence, out var row):
                        p.Rows[change.Sequence] = row with { Body = null, Settled = true, SettledAt = change.At };
                        break;
                    case QueueChangeKind.Update when p.Rows.TryGetValue(change.Sequence, out var row):
                        p.Rows[change.Sequence] = row with { VisibleAt = change.VisibleAt, Deliveries = change.Deliveries, Status = change.Status };
                        break;
                    case QueueChangeKind.Delete:
                        p.Remove(change.Sequence);
                        break;
                }
            }

            if (deleteSettledBefore is { } cutoff)
            {
                foreach (var old in p.Rows.Values.Where(r => r.Settled && r.SettledAt < cutoff).Select(r => r.Sequence).ToList())
                {
                    p.Remove(old);
                }
            }
        }

        return Task.CompletedTask;
    }

    /// <summary>Rows above <paramref name="afterSequence"/> in sequence order.</summary>
    private IEnumerable<StoredQueueMessage> Rows(string partition, long afterSequence)
    {
        if (!_partitions.TryGetValue(partition, out var p) || p.Sequences.Count == 0 || afterSequence >= p.Sequences.Max)
        {
            return [];
        }

        return p.Sequences.GetViewBetween(afterSequence + 1, p.Sequences.Max).Select(s => p.Rows[s]);
    }

    private sealed class Partition
    {
        public long Epoch { get; set; }

        public Dictionary<long, StoredQueueMessage> Rows { get; } = [];

        public SortedSet<long> Sequences { get; } = [];

        public void Put(StoredQueueMessage row)
        {
            Rows[row.Sequence] = row;
            Sequences.Add(row.Sequence);
        }

        public void Remove(long sequence)
        {
            Rows.Remove(sequence);
            Sequences.Remove(sequence);
        }
    }
}
