using System.Collections.Concurrent;
using Granary.Errors;
using Granary.Queues;

namespace Granary.Sdk.Queues;

/// <summary>
/// Client helpers for work queues: routes enqueues to the partition that owns the key (or message
/// id), dequeues through the queue grain, and sends acks, nacks and extensions straight to the
/// partition named in the receipt.
/// </summary>
/// <example><code>
/// var queues = new QueueClient(grains);
/// await queues.CreateAsync("orders", new QueueDefinition(Partitions: 8));
/// await queues.EnqueueAsync("orders", new QueueMessageInput(body, Id: "order-42", Key: "customer-7"));
/// foreach (var m in await queues.DequeueAsync("orders", "worker-1", 10, TimeSpan.FromSeconds(30), TimeSpan.FromSeconds(5)))
/// {
///     await queues.AckAsync("orders", m.Receipt);
/// }
/// </code></example>
public sealed class QueueClient(IGrainFactory grains)
{
    private readonly ConcurrentDictionary<string, QueueInfo> _infos = new(StringComparer.Ordinal);

    /// <summary>The queue grain.</summary>
    public IQueueGrain Queue(string queue) => grains.GetGrain<IQueueGrain>(queue);

    /// <summary>One partition grain.</summary>
    public IQueuePartitionGrain Partition(string queue, int partition) =>
        grains.GetGrain<IQueuePartitionGrain>(QueuePlacement.PartitionKey(queue, partition));

    /// <summary>Creates the queue (idempotent for the same definition).</summary>
    public async Task<QueueInfo> CreateAsync(string queue, QueueDefinition definition)
    {
        var info = await Queue(queue).CreateAsync(definition);
        _infos[queue] = info;
        return info;
    }

    /// <summary>The queue's definition (cached after the first call).</summary>
    public async Task<QueueInfo> InfoAsync(string queue)
    {
        if (_infos.TryGetValue(queue, out var info))
        {
            return info;
        }

        info = await Queue(queue).GetInfoAsync();
        _infos[queue] = info;
        return info;
    }

    /// <summary>Enqueues one message; durable when it returns.</summary>
    public async Task<EnqueueResult> EnqueueAsync(string queue, QueueMessageInput message)
    {
        ArgumentNullException.ThrowIfNull(message);
        var results = await EnqueueBatchAsync(queue, [message]);
        return results[0];
    }

    /// <summary>Enqueues a batch split by partition (each partition's part is one call and one storage write); results in input order.</summary>
    public async Task<IReadOnlyList<EnqueueResult>> EnqueueBatchAsync(string queue, IReadOnlyList<QueueMessageInput> messages)
    {
        ArgumentNullException.ThrowIfNull(messages);
        if (messages.Count == 0)
        {
            throw new InvalidRequestException(nameof(messages), "must hold at least one message");
        }

        var info = await InfoAsync(queue);
        var withIds = messages.Select(m => m is null ? throw new InvalidRequestException("message", "must not be null") : m.Id is null ? m with { Id = Guid.NewGuid().ToString("N") } : m).ToList();
        var groups = withIds
            .Select((m, index) => (Message: m, Index: index, Partition: QueuePlacement.PartitionFor(m.Key, m.Id!, info.Partitions)))
            .GroupBy(x => x.Partition)
            .ToList();
        var results = new EnqueueResult[withIds.Count];
        await Task.WhenAll(groups.Select(async g =>
        {
            var items = g.ToList();
            var stored = await Partition(queue, g.Key).EnqueueAsync(items.Select(x => x.Message).ToList());
            for (var i = 0; i < items.Count; i++)
            {
                results[items[i].Index] = stored[i];
            }
        }));
        return results;
    }

    /// <summary>Leases up to <paramref name="max"/> messages, waiting up to <paramref name="wait"/> when none is ready.</summary>
    public Task<IReadOnlyList<QueueDelivery>> DequeueAsync(string queue, string consumer, int max, TimeSpan visibilityTimeout, TimeSpan wait) =>
        Queue(queue).DequeueAsync(consumer, max, visibilityTimeout, wait);

    /// <summary>Acks a delivery; durable when it returns.</summary>
    public Task AckAsync(string queue, string receipt)
    {
        var r = QueueReceipt.Parse(receipt);
        return Partition(queue, r.Partition).AckAsync(r);
    }

    /// <summary>Acks many deliveries, one call and one storage write per partition; returns the receipts refused and why.</summary>
    public async Task<IReadOnlyList<(string Receipt, ReceiptProblem Problem)>> AckManyAsync(string queue, IEnumerable<string> receipts)
    {
        ArgumentNullException.ThrowIfNull(receipts);
        var parsed = receipts.Select(QueueReceipt.Parse).ToList();
        var problems = new ConcurrentBag<(string, ReceiptProblem)>();
        await Task.WhenAll(parsed.GroupBy(r => r.Partition).SelectMany(g => g.Chunk(QueueLimits.MaxBatch).Select(async chunk =>
        {
            var answers = await Partition(queue, g.Key).AckManyAsync(chunk);
            for (var i = 0; i < chunk.Length; i++)
            {
                if (answers[i] is { } problem)
                {
                    problems.Add((chunk[i].ToString(), problem));
                }
            }
        })));
        return problems.ToList();
    }

    /// <summary>Returns a delivery to the queue after <paramref name="delay"/>, or dead-letters it.</summary>
    public Task NackAsync(string queue, string receipt, TimeSpan delay, bool deadLetter = false)
    {
        var r = QueueReceipt.Parse(receipt);
        return Partition(queue, r.Partition).NackAsync(r, delay, deadLetter);
    }

    /// <summary>Keeps a delivery leased for <paramref name="visibilityTimeout"/> more.</summary>
    public Task ExtendAsync(string queue, string receipt, TimeSpan visibilityTimeout)
    {
        var r = QueueReceipt.Parse(receipt);
        return Partition(queue, r.Partition).ExtendVisibilityAsync(r, visibilityTimeout);
    }

    /// <summary>Stats of every partition.</summary>
    public Task<QueueStats> StatsAsync(string queue) => Queue(queue).GetStatsAsync();
}
