using Granary.Client.Batching;
using Granary.Client.Collections;
using Granary.Client.Configuration;
using Granary.Client.DependencyInjection;
using Granary.Errors;
using Granary.Identity;
using Granary.Queues;

namespace Granary.Client.Queues;

/// <summary>
/// Client helpers for work queues: routes enqueues to the partition that owns the key (or message
/// id), dequeues through the queue grain, and sends acks, nacks and extensions straight to the
/// partition named in the receipt.
/// </summary>
/// <remarks>
/// Single enqueues and acks from concurrent callers of one client are coalesced: while a call to a
/// partition is outstanding, further requests for it queue and the next call carries all of them
/// (one grain call and one storage write for the lot). Each caller still gets its own answer only
/// once its message or ack is durable, and a request is validated before it joins a batch, so a bad
/// request fails alone. A message with neither key nor id may go to any partition: such messages
/// share batches that rotate over the partitions. Share one <see cref="QueueClient"/> per process
/// to get the most out of this.
/// <para>Every call is bounded by <see cref="GranaryClientOptions.CallTimeout"/> (beyond the wait a
/// dequeue asks for), ending in <see cref="TimeoutException"/>, and by its cancellation token, ending in
/// <see cref="OperationCanceledException"/>. Either way the request may still take effect (a message be
/// stored, an ack applied): retry an enqueue with the same message id, which the partition stores
/// once. A cancelled dequeue stops waiting on the queue grain too, so it leases nothing afterwards.</para>
/// </remarks>
/// <example><code>
/// var queues = new QueueClient(grains);
/// await queues.CreateAsync("orders", new QueueDefinition(Partitions: 8), ct);
/// await queues.EnqueueAsync("orders", new QueueMessageInput(body, Id: "order-42", Key: "customer-7"), ct);
/// foreach (var m in await queues.DequeueAsync("orders", "worker-1", 10, TimeSpan.FromSeconds(30), TimeSpan.FromSeconds(5), ct))
/// {
///     await queues.AckAsync("orders", m.Receipt, ct);
/// }
/// </code></example>
/// <param name="grains">The cluster client (or a grain's factory).</param>
/// <param name="options">The call timeout and clock (<see cref="GranaryClientOptions"/>'s defaults when null).</param>
public sealed class QueueClient(IGrainFactory grains, GranaryClientOptions? options = null)
{
    // Calls in flight per partition for keyed or identified messages and for acks (the partition
    // writes one batch at a time anyway), and per queue for messages that may go anywhere.
    private const int PartitionCallsInFlight = 1;
    private const int FreeCallsInFlight = 2;

    // What the client keeps per queue and per partition it has used, bounded: queue names may churn
    // (a queue per tenant or per job) in a process that lives for months.
    private const int MaxCachedQueues = 4_096;

    private readonly BoundedLookup<string, QueueInfo> _infos = new(MaxCachedQueues, StringComparer.Ordinal);
    private readonly BoundedLookup<(string Queue, int Partition), CallBatcher<QueueMessageInput, EnqueueResult>> _enqueuers = new(MaxCachedQueues);
    private readonly BoundedLookup<string, CallBatcher<QueueMessageInput, EnqueueResult>> _freeEnqueuers = new(MaxCachedQueues, StringComparer.Ordinal);
    private readonly BoundedLookup<(string Queue, int Partition), CallBatcher<QueueReceipt, ReceiptProblem?>> _ackers = new(MaxCachedQueues);
    private readonly CallBound _bound = (options ?? new GranaryClientOptions()).Bound();
    private int _rotation;

    /// <summary>The queue grain.</summary>
    public IQueueGrain Queue(string queue) => grains.GetGrain<IQueueGrain>(queue);

    /// <summary>One partition grain.</summary>
    public IQueuePartitionGrain Partition(string queue, int partition) =>
        grains.GetGrain<IQueuePartitionGrain>(QueuePlacement.PartitionKey(queue, partition));

    /// <summary>Creates the queue (idempotent for the same definition).</summary>
    public async Task<QueueInfo> CreateAsync(string queue, QueueDefinition definition, CancellationToken cancellationToken = default)
    {
        var info = await _bound.On(Queue(queue).CreateAsync(definition), cancellationToken);
        _infos.Set(queue, info);
        return info;
    }

    /// <summary>The queue's definition (cached after the first call).</summary>
    public async Task<QueueInfo> InfoAsync(string queue, CancellationToken cancellationToken = default)
    {
        cancellationToken.ThrowIfCancellationRequested();
        if (_infos.TryGetValue(queue, out var info))
        {
            return info;
        }

        info = await _bound.On(Queue(queue).GetInfoAsync(), cancellationToken);
        _infos.Set(queue, info);
        return info;
    }

    /// <summary>Enqueues one message; durable when it returns (concurrent calls share grain calls and storage writes).</summary>
    public async Task<EnqueueResult> EnqueueAsync(string queue, QueueMessageInput message, CancellationToken cancellationToken = default)
    {
        QueueLimits.Validate(message);
        var info = await InfoAsync(queue, cancellationToken);
        if (message.Key is null && message.Id is null)
        {
            var free = _freeEnqueuers.GetOrAdd(queue, q => new CallBatcher<QueueMessageInput, EnqueueResult>(
                batch => _bound.On(Partition(q, (int)((uint)Interlocked.Increment(ref _rotation) % (uint)info.Partitions)).EnqueueAsync(batch), CancellationToken.None),
                FreeCallsInFlight,
                Limits.MaxBatchSize));
            return await _bound.On(free.EnqueueAsync(message), cancellationToken);
        }

        // Keyed by key when there is one (the partition gives an id-less message a fresh id), else by id.
        var partition = QueuePlacement.PartitionFor(message.Key, message.Id ?? "", info.Partitions);
        var homed = _enqueuers.GetOrAdd((queue, partition), k => new CallBatcher<QueueMessageInput, EnqueueResult>(
            batch => _bound.On(Partition(k.Queue, k.Partition).EnqueueAsync(batch), CancellationToken.None),
            PartitionCallsInFlight,
            Limits.MaxBatchSize));
        return await _bound.On(homed.EnqueueAsync(message), cancellationToken);
    }

    /// <summary>
    /// Enqueues a batch split by partition (each partition's part is one call and one storage write);
    /// results in input order. All or nothing when a partition is full (<see cref="QueueFullException"/>, nothing stored).
    /// </summary>
    public async Task<IReadOnlyList<EnqueueResult>> EnqueueBatchAsync(string queue, IReadOnlyList<QueueMessageInput> messages, CancellationToken cancellationToken = default)
    {
        ArgumentNullException.ThrowIfNull(messages);
        if (messages.Count == 0)
        {
            throw new InvalidRequestException(nameof(messages), "must hold at least one message");
        }

        var info = await InfoAsync(queue, cancellationToken);
        foreach (var message in messages)
        {
            QueueLimits.Validate(message);
        }

        // A message without key or id may go anywhere (the partition gives it an id): spread by a fresh hash.
        var groups = messages
            .Select((m, index) => (Message: m, Index: index, Partition: QueuePlacement.PartitionFor(m.Key, m.Id ?? UniqueIds.Next(), info.Partitions)))
            .GroupBy(x => x.Partition)
            .ToList();
        // All or nothing when a partition is full: room is reserved in each before any stores.
        var stored = await _bound.On(
            QueueEnqueues.AllOrNothingAsync(
                groups.Select(g => new QueueEnqueuePart(queue, Partition(queue, g.Key), g.Select(x => x.Message).ToList())).ToList(),
                $"queue '{queue}': batch of {messages.Count} messages"),
            cancellationToken);
        var results = new EnqueueResult[messages.Count];
        for (var g = 0; g < groups.Count; g++)
        {
            var items = groups[g].ToList();
            for (var i = 0; i < items.Count; i++)
            {
                results[items[i].Index] = stored[g][i];
            }
        }

        return results;
    }

    /// <summary>
    /// Leases up to <paramref name="max"/> messages, waiting up to <paramref name="wait"/> when none is
    /// ready. Cancelling <paramref name="cancellationToken"/> ends the wait on the queue grain as well.
    /// </summary>
    public Task<IReadOnlyList<QueueDelivery>> DequeueAsync(string queue, string consumer, int max, TimeSpan visibilityTimeout, TimeSpan wait, CancellationToken cancellationToken = default) =>
        _bound.OnWait(Queue(queue).DequeueAsync(consumer, max, visibilityTimeout, wait, cancellationToken), wait, cancellationToken);

    /// <summary>Acks a delivery; durable when it returns (concurrent acks for one partition share grain calls and storage writes).</summary>
    public async Task AckAsync(string queue, string receipt, CancellationToken cancellationToken = default)
    {
        var r = QueueReceipt.Parse(receipt);
        if (await _bound.On(Acker(queue, r.Partition).EnqueueAsync(r), cancellationToken) is { } problem)
        {
            throw new ReceiptInvalidException(receipt, problem);
        }
    }

    /// <summary>Acks many deliveries, batched per partition with other acks in flight; durable when it returns; returns the receipts refused and why.</summary>
    public async Task<IReadOnlyList<(string Receipt, ReceiptProblem Problem)>> AckManyAsync(string queue, IEnumerable<string> receipts, CancellationToken cancellationToken = default)
    {
        ArgumentNullException.ThrowIfNull(receipts);
        var parsed = receipts.Select(QueueReceipt.Parse).ToList();
        var answers = await _bound.On(Task.WhenAll(parsed.Select(r => Acker(queue, r.Partition).EnqueueAsync(r))), cancellationToken);
        var problems = new List<(string, ReceiptProblem)>();
        for (var i = 0; i < parsed.Count; i++)
        {
            if (answers[i] is { } problem)
            {
                problems.Add((parsed[i].ToString(), problem));
            }
        }

        return problems;
    }

    /// <summary>Returns a delivery to the queue after <paramref name="delay"/>, or dead-letters it.</summary>
    public Task NackAsync(string queue, string receipt, TimeSpan delay, bool deadLetter = false, CancellationToken cancellationToken = default)
    {
        var r = QueueReceipt.Parse(receipt);
        return _bound.On(Partition(queue, r.Partition).NackAsync(r, delay, deadLetter), cancellationToken);
    }

    /// <summary>Keeps a delivery leased for <paramref name="visibilityTimeout"/> more.</summary>
    public Task ExtendAsync(string queue, string receipt, TimeSpan visibilityTimeout, CancellationToken cancellationToken = default)
    {
        var r = QueueReceipt.Parse(receipt);
        return _bound.On(Partition(queue, r.Partition).ExtendVisibilityAsync(r, visibilityTimeout), cancellationToken);
    }

    private CallBatcher<QueueReceipt, ReceiptProblem?> Acker(string queue, int partition) =>
        _ackers.GetOrAdd((queue, partition), k => new CallBatcher<QueueReceipt, ReceiptProblem?>(
            batch => _bound.On(Partition(k.Queue, k.Partition).AckManyAsync(batch), CancellationToken.None),
            PartitionCallsInFlight,
            Limits.MaxBatchSize));

    /// <summary>Stats of every partition.</summary>
    public Task<QueueStats> StatsAsync(string queue, CancellationToken cancellationToken = default) => _bound.On(Queue(queue).GetStatsAsync(), cancellationToken);
}
