using Granary.Durability;
using Granary.Errors;
using Granary.Identity;
using Microsoft.Extensions.Logging;
using Microsoft.Extensions.Options;
using Orleans.Concurrency;

namespace Granary.Queues;

/// <summary>
/// Implements <see cref="IQueuePartitionGrain"/> over a <see cref="QueuePartitionLedger"/> and an
/// <see cref="IQueueMessageStore"/>. Mutations journal their changes in the ledger; a group commit
/// writes whatever has accumulated in a single storage write while further calls
/// keep arriving (the grain is reentrant), and completes each caller only after the write that
/// holds its change is durable. Enqueued messages become deliverable only then. A duplicate of a
/// message whose write is still in flight gets that write's outcome. A failed write fails every
/// caller it carried or that waits behind it, and the activation then confirms nothing more: the write
/// may have been applied even though it reported an error (a connection lost around the commit), so
/// memory may disagree with storage, and the next activation reloads what is stored.
/// </summary>
/// <remarks>
/// Memory is bounded by the ledger's window: an activation reads the partition's index in pages
/// (no bodies) and one page of bodies; further pages are read, in sequence order, when dequeues
/// have drained the window to half. A redelivered or dead-lettered message's body is read by
/// sequence when it is delivered or listed. An enqueue that does not fit under the partition's share
/// of the queue's max depth is refused whole (<see cref="QueueFullException"/>).
/// </remarks>
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
    private GroupCommit? _flushes;
    private bool _broken;
    private bool _queueThinksEmpty = true;
    private long _writes;
    private DateTimeOffset _nextCleanup;
    private RateMeter? _enqueueRate;
    private RateMeter? _ackRate;
    private Task? _paging;

    // Rows per read of the index on activation (no bodies: ids, keys, states).
    private const int IndexPageRows = 5_000;

    // How long room set aside for an exchange publish is kept (the publish's next call comes at once).
    private static readonly TimeSpan ReservationHold = TimeSpan.FromSeconds(30);

    private string Key => this.GetPrimaryKeyString();

    // One write at a time; after a failed write nothing more is confirmed until the partition reloads.
    private GroupCommit Flushes => _flushes ??= new GroupCommit(WriteJournalAsync, GroupCommitFailureMode.Sticky);

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
    public Task<IReadOnlyList<EnqueueResult>> EnqueueAsync(IReadOnlyList<QueueMessageInput> messages) => EnqueueCoreAsync(messages, reservation: 0);

    /// <inheritdoc/>
    public async Task<long> ReserveAsync(IReadOnlyList<string?> messageIds)
    {
        ArgumentNullException.ThrowIfNull(messageIds);
        Guard.InRange(messageIds.Count, nameof(messageIds), 1, Limits.MaxBatchSize);
        foreach (var id in messageIds)
        {
            if (id is not null)
            {
                Guard.Name(id, "id", Limits.MaxKeyLength);
            }
        }

        await InfoAsync();
        var ledger = await LedgerAsync();
        var reservation = ledger.Reserve(NewMessages(ledger, messageIds), ReservationHold);
        return reservation != 0 ? reservation : throw Full(ledger);
    }

    /// <inheritdoc/>
    public Task ReleaseAsync(long reservation)
    {
        _ledger?.Release(reservation);
        return Task.CompletedTask;
    }

    /// <inheritdoc/>
    public Task<IReadOnlyList<EnqueueResult>> EnqueueReservedAsync(IReadOnlyList<QueueMessageInput> messages, long reservation) =>
        EnqueueCoreAsync(messages, reservation);

    private async Task<IReadOnlyList<EnqueueResult>> EnqueueCoreAsync(IReadOnlyList<QueueMessageInput> messages, long reservation)
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

        // Room is checked and taken in the same turn as the appends below (no await in between).
        ledger.Release(reservation);
        if (!ledger.HasRoomFor(NewMessages(ledger, messages.Select(m => m.Id).ToList())))
        {
            throw Full(ledger);
        }

        var results = new List<EnqueueResult>(messages.Count);
        for (var i = 0; i < messages.Count; i++)
        {
            var outcome = ledger.Enqueue(ids[i], messages[i].Key, messages[i].Body, messages[i].Delay, deduplicate: messages[i].Id is not null);
            results.Add(new EnqueueResult(ids[i], _partition, outcome.Sequence, outcome.Duplicate));
        }

        // A duplicate is only as good as its original's write. An original still in the journal goes
        // out with this flush; one in the write now in flight is durable when this flush is, since a
        // failed write fails every flush after it (the group commit's failure is sticky).
        await FlushAsync();
        return results;
    }

    /// <summary>Messages of a batch that would be stored (by the ids their callers gave): id-less ones, and ids not seen inside the dedup window, each once.</summary>
    private static int NewMessages(QueuePartitionLedger ledger, IReadOnlyList<string?> callerIds)
    {
        var fresh = 0;
        HashSet<string>? seen = null;
        foreach (var id in callerIds)
        {
            if (id is null || (!ledger.IsDuplicate(id) && (seen ??= new(StringComparer.Ordinal)).Add(id)))
            {
                fresh++;
            }
        }

        return fresh;
    }

    private QueueFullException Full(QueuePartitionLedger ledger) => new(_queue, _partition, ledger.Held, ledger.Settings.MaxMessages);

    /// <inheritdoc/>
    public async Task<PartitionDequeueResult> TryDequeueAsync(string consumer, int max, TimeSpan visibilityTimeout)
    {
        Guard.Name(consumer, nameof(consumer), Limits.MaxKeyLength);
        Guard.InRange(max, nameof(max), 1, Limits.MaxBatchSize);
        Guard.InRange(visibilityTimeout, nameof(visibilityTimeout), TimeSpan.FromMilliseconds(1), Limits.Queues.MaxVisibilityTimeout);
        var ledger = await LedgerAsync();
        var leases = ledger.Dequeue(consumer, max, visibilityTimeout).ToList();
        if (leases.Count < max && (_paging is not null || ledger.NextPage() is not null))
        {
            // The window ran dry while messages wait in storage: read them before answering.
            await PageInAsync();
            leases.AddRange(ledger.Dequeue(consumer, max - leases.Count, visibilityTimeout));
        }

        if (ledger.PendingChangeCount > 0)
        {
            // Leases that ran out of deliveries were dead-lettered by the clock: store that too.
            _ = ObserveAsync(FlushAsync());
        }

        if (ledger.NextPage() is not null)
        {
            _ = PageInAsync();
        }

        var bodies = await BodiesAsync(leases.Where(l => l.Body is null).Select(l => l.Sequence).ToList());
        var more = ledger.HasAvailable();
        _queueThinksEmpty = !more;
        var deliveries = new List<QueueDelivery>(leases.Count);
        foreach (var l in leases)
        {
            if ((l.Body ?? bodies.GetValueOrDefault(l.Sequence)) is not { } body)
            {
                // Storage no longer holds it: nothing to deliver (its lease ends on its own).
                QueueLog.LogWarningBodyMissing(logger, Key, l.Sequence);
                continue;
            }

            deliveries.Add(new QueueDelivery(
                new QueueReceipt(_partition, l.Sequence, l.LeaseToken).ToString(),
                l.Id,
                l.Key,
                body,
                l.EnqueuedAt,
                l.Deliveries,
                l.LeaseExpiresAt,
                _partition));
        }

        return new PartitionDequeueResult(deliveries, more, ledger.NextWakeUp());
    }

    /// <summary>Bodies the ledger no longer holds (redeliveries, dead letters), read from storage by sequence.</summary>
    private async Task<IReadOnlyDictionary<long, byte[]>> BodiesAsync(IReadOnlyCollection<long> sequences) =>
        sequences.Count == 0 ? new Dictionary<long, byte[]>() : await store.ReadBodiesAsync(Key, sequences, CancellationToken.None);

    /// <summary>Reads stored messages into the memory window until it is full or storage has no more (one reader at a time).</summary>
    private Task PageInAsync()
    {
        if (_paging is { } running)
        {
            return running;
        }

        var paging = PageLoopAsync();
        if (!paging.IsCompleted)
        {
            _paging = paging;
        }

        return paging;
    }

    private async Task PageLoopAsync()
    {
        try
        {
            while (!_broken && _ledger is { } ledger && ledger.NextPage() is { } page)
            {
                var rows = await store.ReadPageAsync(Key, page, CancellationToken.None);
                if (ledger.AddPage(page, rows) == 0 && rows.Count == 0)
                {
                    break;
                }
            }

            if (_queueThinksEmpty && _ledger?.HasAvailable() == true)
            {
                _queueThinksEmpty = false;
                _ = ObserveAsync(GrainFactory.GetGrain<IQueueGrain>(_queue).NotifyAvailableAsync(_partition));
            }
        }
        catch (Exception ex)
        {
            // Reads change nothing: the next dequeue that finds the window dry tries again.
            QueueLog.LogWarningPageFailed(logger, ex, Key);
        }
        finally
        {
            _paging = null;
        }
    }

    /// <inheritdoc/>
    public async Task AckAsync(QueueReceipt receipt)
    {
        var ledger = await LedgerAsync();
        CheckPartition(receipt);
        Raise(receipt, await ResolveAsync(receipt, ledger.Ack(receipt.Sequence, receipt.LeaseToken)));
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
        var outcomes = new SettleOutcome[receipts.Count];
        for (var i = 0; i < receipts.Count; i++)
        {
            outcomes[i] = ledger.Ack(receipts[i].Sequence, receipts[i].LeaseToken);
            if (outcomes[i] == SettleOutcome.Ok)
            {
                _ackRate!.Add();
            }
        }

        var storedOnly = receipts.Where((_, i) => outcomes[i] == SettleOutcome.StoredOnly).Select(r => r.Sequence).ToList();
        var unsettled = await BodiesAsync(storedOnly);
        var problems = outcomes.Select((o, i) => ToProblem(o == SettleOutcome.StoredOnly ? StoredOnlyOutcome(receipts[i].Sequence, unsettled) : o)).ToList();
        await FlushAsync();
        return problems;
    }

    /// <inheritdoc/>
    public async Task NackAsync(QueueReceipt receipt, TimeSpan delay, bool deadLetter)
    {
        Guard.InRange(delay, nameof(delay), TimeSpan.Zero, Limits.Queues.MaxDelay);
        var ledger = await LedgerAsync();
        CheckPartition(receipt);
        Raise(receipt, await ResolveAsync(receipt, ledger.Nack(receipt.Sequence, receipt.LeaseToken, delay, deadLetter)));
        await FlushAsync();
    }

    /// <inheritdoc/>
    public async Task ExtendVisibilityAsync(QueueReceipt receipt, TimeSpan visibilityTimeout)
    {
        Guard.InRange(visibilityTimeout, nameof(visibilityTimeout), TimeSpan.FromMilliseconds(1), Limits.Queues.MaxVisibilityTimeout);
        var ledger = await LedgerAsync();
        CheckPartition(receipt);
        Raise(receipt, await ResolveAsync(receipt, ledger.ExtendVisibility(receipt.Sequence, receipt.LeaseToken, visibilityTimeout)));
    }

    /// <inheritdoc/>
    public async Task<PartitionStats> GetStatsAsync()
    {
        var ledger = await LedgerAsync();
        var c = ledger.Counts();
        return new PartitionStats(_partition, c.Ready, c.Delayed, c.InFlight, c.DeadLettered, c.Enqueued, c.Acked, c.Redelivered, _enqueueRate!.PerSecond(), _ackRate!.PerSecond(), _writes, RuntimeIdentity, c.Stored, c.Bodies, ledger.Settings.MaxMessages);
    }

    /// <inheritdoc/>
    public async Task<IReadOnlyList<DeadLetterMessage>> GetDeadLettersAsync(int limit)
    {
        Guard.InRange(limit, nameof(limit), 0, Limits.MaxBatchSize);
        var ledger = await LedgerAsync();
        var dead = ledger.DeadLetters(limit);
        var bodies = await BodiesAsync(dead.Select(m => m.Sequence).ToList());
        return dead
            .Where(m => bodies.ContainsKey(m.Sequence)) // purged or redriven while the bodies were read
            .Select(m => new DeadLetterMessage(_partition, m.Sequence, m.Id, m.Key, bodies[m.Sequence], m.Deliveries, m.DeadLetterReason ?? "", m.EnqueuedAt))
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
        var moved = 0;
        while (moved < max)
        {
            // Dead letters' bodies are in storage only: read a batch of them, then move those.
            var batch = ledger.DeadLetters(Math.Min(max - moved, Limits.MaxBatchSize)).Select(m => m.Sequence).ToList();
            var redriven = batch.Count == 0 ? 0 : ledger.Redrive(await BodiesAsync(batch));
            if (redriven == 0)
            {
                break;
            }

            moved += redriven;
        }

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

    /// <summary>
    /// Answers a <see cref="SettleOutcome.StoredOnly"/> receipt from storage: a message still stored
    /// unsettled lost its lease with the incarnation that issued the receipt (it will be delivered
    /// again); one no longer there was settled (an earlier ack whose answer was lost). Every other
    /// outcome is returned as it is.
    /// </summary>
    private async Task<SettleOutcome> ResolveAsync(QueueReceipt receipt, SettleOutcome outcome) =>
        outcome == SettleOutcome.StoredOnly ? StoredOnlyOutcome(receipt.Sequence, await BodiesAsync([receipt.Sequence])) : outcome;

    private static SettleOutcome StoredOnlyOutcome(long sequence, IReadOnlyDictionary<long, byte[]> unsettled) =>
        unsettled.ContainsKey(sequence) ? SettleOutcome.LeaseLost : SettleOutcome.AlreadySettled;

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
        var settings = new QueuePartitionSettings(info.MaxDeliveries, info.DeduplicationWindow)
        {
            MemoryWindow = options.Value.MemoryWindow,
            MaxMessages = info.PartitionMaxDepth,
        };
        var ledger = new QueuePartitionLedger(settings, time);
        var snapshot = await store.OpenAsync(Key, CancellationToken.None);

        // The index in bounded pages without bodies, then one window of bodies.
        long rows = 0;
        for (var after = 0L; ;)
        {
            var page = await store.ReadIndexAsync(Key, after, IndexPageRows, CancellationToken.None);
            ledger.Restore(page);
            rows += page.Count;
            if (page.Count < IndexPageRows)
            {
                break;
            }

            after = page[^1].Sequence;
        }

        ledger.ReserveSequencesThrough(snapshot.HighestSequence);
        ledger.StartTokensAt(snapshot.Epoch << 32);
        if (ledger.NextPage() is { } first)
        {
            ledger.AddPage(first, await store.ReadPageAsync(Key, first, CancellationToken.None));
        }

        _epoch = snapshot.Epoch;
        _nextCleanup = time.GetUtcNow() + options.Value.CleanupInterval;
        _ledger = ledger;
        metrics.Track(this, _queue, () => ledger.Depths);
        var counts = ledger.Counts();
        QueueLog.LogInformationRecovered(logger, Key, snapshot.Epoch, System.Diagnostics.Stopwatch.GetElapsedTime(started).TotalMilliseconds, rows, counts.Bodies, counts.Stored);
        if (ledger.HasAvailable())
        {
            await GrainFactory.GetGrain<IQueueGrain>(_queue).NotifyAvailableAsync(_partition);
        }
    }

    /// <summary>Completes when a write that holds every change journaled so far is durable.</summary>
    private Task FlushAsync() => Flushes.CommitAsync();

    /// <summary>
    /// One group-commit write: the journal drained into a single storage write. Whatever it throws (a
    /// storage error, an out-of-memory, a bug) fails its callers and, the failure being sticky, every
    /// flush after it: the activation confirms nothing more.
    /// </summary>
    private async Task WriteJournalAsync()
    {
        var changeCount = 0;
        try
        {
            // A broken activation confirms nothing: memory may be ahead of storage.
            ThrowIfBroken();
            var ledger = _ledger!;
            var changes = ledger.DrainChanges();
            changeCount = changes.Count;
            var appended = changes.Where(c => c.Kind == QueueChangeKind.Append).Select(c => c.Sequence).ToHashSet();
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
            if (ledger.NextPage() is not null)
            {
                _ = PageInAsync(); // committed beyond an empty window: bring them in
            }

            if (_queueThinksEmpty && ledger.HasAvailable())
            {
                _queueThinksEmpty = false;
                _ = ObserveAsync(GrainFactory.GetGrain<IQueueGrain>(_queue).NotifyAvailableAsync(_partition));
            }
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
            if (first)
            {
                QueueLog.LogWarningWriteFailed(logger, ex, Key, changeCount);
                DeactivateOnIdle();
            }

            throw new ServiceUnavailableException($"queue partition '{Key}': storage write failed ({ex.GetType().Name}: {ex.Message}); nothing in this batch was confirmed (it may or may not be stored): retry with the same message ids");
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
