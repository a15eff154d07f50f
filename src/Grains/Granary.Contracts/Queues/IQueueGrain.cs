using Granary.Security;
using Orleans.Concurrency;

namespace Granary.Queues;

/// <summary>
/// A named work queue (key = queue name): its definition, and the consumer side that spreads
/// dequeues over its partitions (round robin from a cursor, skipping partitions known to be empty,
/// long-polling when all are). Producers and settlements go straight to
/// <see cref="IQueuePartitionGrain"/>; the SDK's <c>QueueClient</c> does the routing.
/// </summary>
/// <example><code>
/// var queue = grains.GetGrain&lt;IQueueGrain&gt;("orders");
/// await queue.CreateAsync(new QueueDefinition(Partitions: 8));
/// var batch = await queue.DequeueAsync("worker-1", 10, TimeSpan.FromSeconds(30), TimeSpan.FromSeconds(5));
/// </code></example>
[Requires(Permission.Internal)]
[Alias("granary.queues.queue")]
public interface IQueueGrain : IGrainWithStringKey
{
    /// <summary>Creates the queue; creating it again with the same definition returns it unchanged, a different one is refused.</summary>
    [Requires(Permission.QueueAdmin)]
    [Alias("create")]
    Task<QueueInfo> CreateAsync(QueueDefinition definition);

    /// <summary>The definition, or <see cref="QueueNotFoundException"/>.</summary>
    [Requires(Permission.QueueProduce)]
    [Alias("info")]
    Task<QueueInfo> GetInfoAsync();

    /// <summary>
    /// Leases up to <paramref name="max"/> messages; waits up to <paramref name="wait"/> for some when none
    /// is ready. A caller that cancels <paramref name="cancellationToken"/> (Orleans carries the
    /// cancellation to the grain) ends the wait: no message is leased for it afterwards.
    /// </summary>
    [Requires(Permission.QueueConsume)]
    [Alias("dequeue")]
    Task<IReadOnlyList<QueueDelivery>> DequeueAsync(string consumer, int max, TimeSpan visibilityTimeout, TimeSpan wait, CancellationToken cancellationToken = default);

    /// <summary>Stats of every partition.</summary>
    [Requires(Permission.QueueConsume)]
    [Alias("stats")]
    Task<QueueStats> GetStatsAsync();

    /// <summary>Up to <paramref name="limit"/> dead-lettered messages over all partitions.</summary>
    [Requires(Permission.QueueConsume)]
    [Alias("dlq-list")]
    Task<IReadOnlyList<DeadLetterMessage>> GetDeadLettersAsync(int limit);

    /// <summary>Deletes every dead-lettered message; returns how many.</summary>
    [Requires(Permission.QueueAdmin)]
    [Alias("dlq-purge")]
    Task<int> PurgeDeadLettersAsync();

    /// <summary>Returns up to <paramref name="max"/> dead-lettered messages to the queue; returns how many.</summary>
    [Requires(Permission.QueueAdmin)]
    [Alias("dlq-redrive")]
    Task<int> RedriveAsync(int max);

    /// <summary>A partition has messages again (sent by partitions; wakes long-polling consumers).</summary>
    [Alias("notify"), OneWay]
    Task NotifyAvailableAsync(int partition);
}

/// <summary>
/// One partition of a queue, key <c>&lt;queue&gt;/&lt;partition&gt;</c>. Enqueues are group-committed:
/// concurrent callers share one storage write and each returns only after the write holding its
/// message is durable.
/// </summary>
[Requires(Permission.Internal)]
[Alias("granary.queues.partition")]
public interface IQueuePartitionGrain : IGrainWithStringKey
{
    /// <summary>
    /// Enqueues a batch (durable when it returns); ids seen inside the dedup window are reported as
    /// duplicates and not added again. A batch that does not fit under the partition's share of the
    /// queue's max depth is refused whole with <see cref="QueueFullException"/>.
    /// </summary>
    [Requires(Permission.QueueProduce)]
    [Alias("enqueue")]
    Task<IReadOnlyList<EnqueueResult>> EnqueueAsync(IReadOnlyList<QueueMessageInput> messages);

    /// <summary>
    /// Sets room aside for a short while for the messages with these ids (null: an id-less message;
    /// an id seen inside the dedup window needs no room), so an enqueue into several partitions can
    /// find out that every one has room before it stores anything (see
    /// <see cref="QueueEnqueues.AllOrNothingAsync"/>); returns the reservation, or throws
    /// <see cref="QueueFullException"/>.
    /// </summary>
    [Requires(Permission.QueueProduce)]
    [Alias("reserve")]
    Task<long> ReserveAsync(IReadOnlyList<string?> messageIds);

    /// <summary>Gives a reservation back (the enqueue it was for will not happen).</summary>
    [Requires(Permission.QueueProduce)]
    [Alias("release"), OneWay]
    Task ReleaseAsync(long reservation);

    /// <summary>Enqueues a batch into room set aside by <see cref="ReserveAsync"/> (an unknown or expired reservation: as <see cref="EnqueueAsync"/>).</summary>
    [Requires(Permission.QueueProduce)]
    [Alias("enqueue-reserved")]
    Task<IReadOnlyList<EnqueueResult>> EnqueueReservedAsync(IReadOnlyList<QueueMessageInput> messages, long reservation);

    /// <summary>
    /// Leases up to <paramref name="max"/> messages without waiting. Answered at once, so a call that
    /// takes 5 s has met a dead silo: the queue grain then serves the other partitions.
    /// </summary>
    [Alias("try-dequeue"), ResponseTimeout("00:00:05")]
    Task<PartitionDequeueResult> TryDequeueAsync(string consumer, int max, TimeSpan visibilityTimeout);

    /// <summary>Deletes the message (durable when it returns).</summary>
    [Requires(Permission.QueueConsume)]
    [Alias("ack")]
    Task AckAsync(QueueReceipt receipt);

    /// <summary>Acks several receipts in one storage write; returns, per receipt, null or the problem.</summary>
    [Requires(Permission.QueueConsume)]
    [Alias("ack-many")]
    Task<IReadOnlyList<ReceiptProblem?>> AckManyAsync(IReadOnlyList<QueueReceipt> receipts);

    /// <summary>Returns the message to the queue after <paramref name="delay"/>, or dead-letters it.</summary>
    [Requires(Permission.QueueConsume)]
    [Alias("nack")]
    Task NackAsync(QueueReceipt receipt, TimeSpan delay, bool deadLetter);

    /// <summary>Moves the lease end to now + <paramref name="visibilityTimeout"/>.</summary>
    [Requires(Permission.QueueConsume)]
    [Alias("extend")]
    Task ExtendVisibilityAsync(QueueReceipt receipt, TimeSpan visibilityTimeout);

    /// <summary>Counts and rates.</summary>
    [Alias("stats")]
    Task<PartitionStats> GetStatsAsync();

    /// <summary>Up to <paramref name="limit"/> dead-lettered messages.</summary>
    [Alias("dlq-list")]
    Task<IReadOnlyList<DeadLetterMessage>> GetDeadLettersAsync(int limit);

    /// <summary>Deletes every dead-lettered message.</summary>
    [Alias("dlq-purge")]
    Task<int> PurgeDeadLettersAsync();

    /// <summary>Returns up to <paramref name="max"/> dead-lettered messages to the queue tail.</summary>
    [Alias("dlq-redrive")]
    Task<int> RedriveAsync(int max);
}
