using Granary.Errors;
using Granary.Identity;
using Microsoft.Extensions.Logging;
using Microsoft.Extensions.Options;
using Orleans.Concurrency;

namespace Granary.Queues;

/// <summary>
/// Implements <see cref="IQueuePartitionGrain"/> over a <see cref="QueuePartitionLedger"/> and an
/// <see cref="IQueueMessageStore"/>. Mutations journal their changes in the ledger; one flush loop
/// writes whatever has accumulated in a single storage write (group commit) while further calls
/// keep arriving (the grain is reentrant), and completes each caller only after the write that
/// holds its change is durable. Enqueued messages become deliverable only then. A duplicate of a
/// message whose write is still in flight gets that write's outcome. A failed write fails every
/// caller it carried or that waits on it, and the activation then confirms nothing more: the write
/// may have been applied even though it reported an error (a connection lost around the commit), so
/// memory may disagree with storage, and the next activation reloads what is stored.
/// </summary>
[Reentrant]
[GrainType("granary.queues.queue-partition")]
public sealed class QueuePartitionGrain(
    IQueueMessageStore store,
    IOptions<QueueOptions> options,
    QueueMetrics metrics,
    TimeProvider time,
    ILogger<QueuePartitionGrain> logger) : Grain, IQueuePartitionGrain
{
    private QueuePartitionLedger? _ledger;
    private Task? _loading;
    private string _queue = "";
    private int _partition;
    private long _epoch;
    private TaskCompletionSource? _nextFlush;
    private HashSet<long>? _inFlightAppends;
    private Task? _inFlightWrite;
    private bool _flushing;
    private bool _broken;
    private bool _queueThinksEmpty = true;
    private long _writes;
    private DateTimeOffset _nextCleanup;
    private RateMeter? _enqueueRate;
    private RateMeter? _ackRate;

    private string Key => this.GetPrimaryKeyString();

    /// <inheritdoc/>
    public override Task OnActivateAsync(CancellationToken cancellationToken)
    {
        (_queue, _partition) = QueuePlacement.ParsePartitionKey(Key);
        _enqueueRate = new RateMeter(time);
        _ackRate = new RateMeter(time);
        return Task.CompletedTask;
    }

    /// <inheritdoc/>
    public override Task OnDeactivateAsync(DeactivationReason reason, CancellationToken cancellationToken)
    {
        metrics.Untrack(this);
        return base.OnDeactivateAsync(reason, cancellationToken);
    }

    /// <inheritdoc/>
    public async Task<IReadOnlyList<EnqueueResult>> EnqueueAsync(IReadOnlyList<QueueMessageInput> messages)
    {
        if (messages is null || messages.Count == 0)
        {
            throw new InvalidRequestException(nameof(messages), "must hold at least one message");
        }

        Guard.InRange(messages.Count, nameof(messages), 1, Limits.MaxBatchSize);
        foreach (var message in messages)
        {
            QueueLimits.Validate(message);
        }

        var info = await InfoAsync();
        var ledger = await LedgerAsync();
        var ids = messages.Select(m => m.Id ?? UniqueIds.Next()).ToList();
        for (var i = 0; i < messages.Count; i++)
        {
            // Keyed messages and messages with a caller-chosen id have exactly one home partition.
            var home = QueuePlacement.PartitionFor(messages[i].Key, ids[i], info.Partitions);
            if ((messages[i].Key is not null || messages[i].Id is not null) && home != _partition)
            {
                throw new InvalidRequestException("partition", $"message '{ids[i]}' belongs to partition {home}, not {_partition}");
            }
        }

        var results = new List<EnqueueResult>(messages.Count);
        Task? original = null;
        for (var i = 0; i < messages.Count; i++)
        {
            var outcome = ledger.Enqueue(ids[i], messages[i].Key, messages[i].Body, messages[i].Delay, deduplicate: messages[i].Id is not null);
            if (outcome.Duplicate && ledger.IsPending(outcome.Sequence) && _inFlightAppends?.Contains(outcome.Sequence) == true)
            {
                // The original is in the write now in flight: this answer is only as good as that
                // write. (An original still in the journal goes out with the flush awaited below.)
                original = _inFlightWrite;
            }

            results.Add(new EnqueueResult(ids[i], _partition, outcome.Sequence, outcome.Duplicate));
        }

        var flushed = FlushAsync();
        await (original is null ? flushed : Task.WhenAll(original, flushed));
        return results;
    }

    /// <inheritdoc/>
    public async Task<PartitionDequeueResult> TryDequeueAsync(string consumer, int max, TimeSpan visibilityTimeout)
    {
        Guard.Name(consumer, nameof(consumer), Limits.MaxKeyLength);
        Guard.InRange(max, nameof(max), 1, Limits.MaxBatchSize);
        Guard.InRange(visibilityTimeout, nameof(visibilityTimeout), TimeSpan.FromMilliseconds(1), Limits.Queues.MaxVisibilityTimeout);
        var ledger = await LedgerAsync();
        var leases = ledger.Dequeue(consumer, max, visibilityTimeout);
        if (ledger.PendingChangeCount > 0)
        {
            // Leases that ran out of deliveries were dead-lettered by the clock: store that too.
            _ = ObserveAsync(FlushAsync());
        }

        var more = ledger.HasAvailable();
        _queueThinksEmpty = !more;
        var deliveries = leases.Select(l => new QueueDelivery(
            new QueueReceipt(_partition, l.Sequence, l.LeaseToken).ToString(),
            l.Id,
            l.Key,
            l.Body,
            l.EnqueuedAt,
            l.Deliveries,
            l.LeaseExpiresAt,
            _partition)).ToList();
        return new PartitionDequeueResult(deliveries, more, ledger.NextWakeUp());
    }

    /// <inheritdoc/>
    public async Task AckAsync(QueueReceipt receipt)
    {
        var ledger = await LedgerAsync();
        CheckPartition(receipt);
        Raise(receipt, ledger.Ack(receipt.Sequence, receipt.LeaseToken));
        _ackRate!.Add();
        await FlushAsync();
    }

    /// <inheritdoc/>
    public async Task<IReadOnlyList<ReceiptProblem?>> AckManyAsync(IReadOnlyList<QueueReceipt> receipts)
    {
        ArgumentNullException.ThrowIfNull(receipts);
        Guard.InRange(receipts.Count, nameof(receipts), 1, Limits.MaxBatchSize);
        foreach (var receipt in receipts)
        {
            CheckPartition(receipt);
        }

        var ledger = await LedgerAsync();
        var problems = new List<ReceiptProblem?>(receipts.Count);
        foreach (var receipt in receipts)
        {
            var outcome = ledger.Ack(receipt.Sequence, receipt.LeaseToken);
            problems.Add(ToProblem(outcome));
            if (outcome == SettleOutcome.Ok)
            {
                _ackRate!.Add();
            }
        }

        await FlushAsync();
        return problems;
    }

    /// <inheritdoc/>
    public async Task NackAsync(QueueReceipt receipt, TimeSpan delay, bool deadLetter)
    {
        Guard.InRange(delay, nameof(delay), TimeSpan.Zero, Limits.Queues.MaxDelay);
        var ledger = await LedgerAsync();
        CheckPartition(receipt);
        Raise(receipt, ledger.Nack(receipt.Sequence, receipt.LeaseToken, delay, deadLetter));
        await FlushAsync();
    }

    /// <inheritdoc/>
    public async Task ExtendVisibilityAsync(QueueReceipt receipt, TimeSpan visibilityTimeout)
    {
        Guard.InRange(visibilityTimeout, nameof(visibilityTimeout), TimeSpan.FromMilliseconds(1), Limits.Queues.MaxVisibilityTimeout);
        var ledger = await LedgerAsync();
        CheckPartition(receipt);
        Raise(receipt, ledger.ExtendVisibility(receipt.Sequence, receipt.LeaseToken, visibilityTimeout));
    }

    /// <inheritdoc/>
    public async Task<PartitionStats> GetStatsAsync()
    {
        var ledger = await LedgerAsync();
        var c = ledger.Counts();
        return new PartitionStats(_partition, c.Ready, c.Delayed, c.InFlight, c.DeadLettered, c.Enqueued, c.Acked, c.Redelivered, _enqueueRate!.PerSecond(), _ackRate!.PerSecond(), _writes, RuntimeIdentity);
    }

    /// <inheritdoc/>
    public async Task<IReadOnlyList<DeadLetterMessage>> GetDeadLettersAsync(int limit)
    {
        Guard.InRange(limit, nameof(limit), 0, Limits.MaxBatchSize);
        var ledger = await LedgerAsync();
        return ledger.DeadLetters(limit)
            .Select(m => new DeadLetterMessage(_partition, m.Sequence, m.Id, m.Key, m.Body, m.Deliveries, m.DeadLetterReason ?? "", m.EnqueuedAt))
            .ToList();
    }

    /// <inheritdoc/>
    public async Task<int> PurgeDeadLettersAsync()
    {
        var ledger = await LedgerAsync();
        var purged = ledger.PurgeDeadLetters();
        await FlushAsync();
        return purged;
    }

    /// <inheritdoc/>
    public async Task<int> RedriveAsync(int max)
    {
        Guard.InRange(max, nameof(max), 0, int.MaxValue);
        var ledger = await LedgerAsync();
        var moved = ledger.Redrive(max);
        await FlushAsync();
        return moved;
    }

    private void CheckPartition(QueueReceipt receipt)
    {
        if (receipt.Partition != _partition)
        {
            throw new ReceiptInvalidException(receipt.ToString(), ReceiptProblem.Unknown);
        }
    }

    private static void Raise(QueueReceipt receipt, SettleOutcome outcome)
    {
        if (ToProblem(outcome) is { } problem)
        {
            throw new ReceiptInvalidException(receipt.ToString(), problem);
        }
    }

    private static ReceiptProblem? ToProblem(SettleOutcome outcome) => outcome switch
    {
        SettleOutcome.Ok => null,
        SettleOutcome.AlreadySettled => ReceiptProblem.AlreadySettled,
        SettleOutcome.LeaseLost => ReceiptProblem.LeaseLost,
        _ => ReceiptProblem.Unknown,
    };

    private QueueInfo? _info;

    private async Task<QueueInfo> InfoAsync()
    {
        if (_info is null)
        {
            var info = await GrainFactory.GetGrain<IQueueGrain>(_queue).GetInfoAsync();
            if (_partition >= info.Partitions)
            {
                throw new InvalidRequestException("partition", $"queue '{_queue}' has {info.Partitions} partitions; there is no partition {_partition}");
            }

            _info = info;
        }

        return _info;
    }

    private async Task<QueuePartitionLedger> LedgerAsync()
    {
        ThrowIfBroken();
        if (_ledger is not null)
        {
            return _ledger;
        }

        _loading ??= LoadAsync();
        try
        {
            await _loading;
        }
        catch
        {
            _loading = null;
            throw;
        }

        // A write may have failed while this call waited for the load.
        ThrowIfBroken();
        return _ledger!;
    }

    private void ThrowIfBroken()
    {
        if (_broken)
        {
            throw new ServiceUnavailableException($"queue partition '{Key}' is reloading after a failed storage write; retry");
        }
    }

    private async Task LoadAsync()
    {
        var started = System.Diagnostics.Stopwatch.GetTimestamp();
        var info = await InfoAsync();
        var ledger = new QueuePartitionLedger(new QueuePartitionSettings(info.MaxDeliveries, info.DeduplicationWindow), time);
        var snapshot = await store.OpenAsync(Key, time.GetUtcNow() - info.DeduplicationWindow, CancellationToken.None);
        ledger.Restore(snapshot.Messages);
        ledger.ReserveSequencesThrough(snapshot.HighestSequence);
        ledger.StartTokensAt(snapshot.Epoch << 32);
        _epoch = snapshot.Epoch;
        _nextCleanup = time.GetUtcNow() + options.Value.CleanupInterval;
        _ledger = ledger;
        metrics.Track(this, _queue, () => ledger.Depths);
        QueueLog.LogInformationRecovered(logger, Key, snapshot.Messages.Count, snapshot.Epoch, System.Diagnostics.Stopwatch.GetElapsedTime(started).TotalMilliseconds);
        if (ledger.HasAvailable())
        {
            await GrainFactory.GetGrain<IQueueGrain>(_queue).NotifyAvailableAsync(_partition);
        }
    }

    /// <summary>Completes when a write that holds every change journaled so far is durable.</summary>
    private Task FlushAsync()
    {
        _nextFlush ??= new TaskCompletionSource(TaskCreationOptions.RunContinuationsAsynchronously);
        var flushed = _nextFlush.Task;
        if (!_flushing)
        {
            _flushing = true;
            _ = FlushLoopAsync();
        }

        return flushed;
    }

    /// <summary>
    /// Writes the journal while callers wait for it. Whatever a write throws (a storage error, an
    /// out-of-memory, a bug), its callers fail and the loop carries on with the next batch, so no
    /// caller is left waiting on a loop that ended.
    /// </summary>
    private async Task FlushLoopAsync()
    {
        try
        {
            while (_nextFlush is { } batch)
            {
                _nextFlush = null;
                _inFlightWrite = batch.Task;
                var changeCount = 0;
                try
                {
                    // A broken activation confirms nothing: memory may be ahead of storage.
                    ThrowIfBroken();
                    var ledger = _ledger!;
                    var changes = ledger.DrainChanges();
                    changeCount = changes.Count;
                    var appended = changes.Where(c => c.Kind == QueueChangeKind.Append).Select(c => c.Sequence).ToHashSet();
                    _inFlightAppends = appended;
                    if (changes.Count > 0)
                    {
                        DateTimeOffset? cleanup = null;
                        var now = time.GetUtcNow();
                        if (now >= _nextCleanup)
                        {
                            cleanup = now - ledger.Settings.DeduplicationWindow;
                            _nextCleanup = now + options.Value.CleanupInterval;
                        }

                        await store.WriteAsync(Key, _epoch, changes, cleanup, CancellationToken.None);
                        _writes++;
                    }

                    ledger.Commit(appended);
                    _enqueueRate!.Add(appended.Count);
                    if (_queueThinksEmpty && ledger.HasAvailable())
                    {
                        _queueThinksEmpty = false;
                        _ = ObserveAsync(GrainFactory.GetGrain<IQueueGrain>(_queue).NotifyAvailableAsync(_partition));
                    }

                    batch.TrySetResult();
                }
                catch (Exception ex)
                {
                    // The write may have been applied although it failed (the connection was lost
                    // around the commit), or not at all: memory and storage may now disagree. Stop
                    // confirming anything and let the next activation reload what is stored. A
                    // producer that retries with the same message id then gets either a duplicate of
                    // the stored message or a fresh append, never a message stored twice or not at all.
                    var first = !_broken;
                    _broken = true;
                    batch.TrySetException(new ServiceUnavailableException($"queue partition '{Key}': storage write failed ({ex.GetType().Name}: {ex.Message}); nothing in this batch was confirmed (it may or may not be stored): retry with the same message ids"));
                    if (first)
                    {
                        QueueLog.LogWarningWriteFailed(logger, ex, Key, changeCount);
                        DeactivateOnIdle();
                    }
                }
                finally
                {
                    _inFlightAppends = null;
                    _inFlightWrite = null;
                }
            }
        }
        finally
        {
            _flushing = false;
        }
    }

    private static async Task ObserveAsync(Task task)
    {
        try
        {
            await task;
        }
        catch (Exception)
        {
            // Background flushes and notifications: failures were logged or are retried by later calls.
        }
    }
}
