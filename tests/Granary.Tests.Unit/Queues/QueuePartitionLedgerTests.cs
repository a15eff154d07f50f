using System.Text;
using Granary.Queues;
using Microsoft.Extensions.Time.Testing;

namespace Granary.Tests.Unit.Queues;

public sealed class QueuePartitionLedgerTests
{
    private static readonly TimeSpan Visibility = TimeSpan.FromSeconds(30);
    private readonly FakeTimeProvider _time = new(new DateTimeOffset(2026, 1, 1, 0, 0, 0, TimeSpan.Zero));

    private QueuePartitionLedger NewLedger(int maxDeliveries = 3, int dedupMinutes = 5) =>
        new(new QueuePartitionSettings(maxDeliveries, TimeSpan.FromMinutes(dedupMinutes)), _time);

    private static long Put(QueuePartitionLedger ledger, string id, string? key = null, TimeSpan? delay = null)
    {
        var outcome = ledger.Enqueue(id, key, Encoding.UTF8.GetBytes("body-" + id), delay ?? TimeSpan.Zero);
        ledger.Commit([outcome.Sequence]);
        return outcome.Sequence;
    }

    /// <summary>Recovers as a partition does: the index without bodies, then pages of ready rows (with bodies) from <paramref name="rows"/>.</summary>
    private static void Recover(QueuePartitionLedger ledger, IReadOnlyList<StoredQueueMessage> rows)
    {
        ledger.Restore(rows.Select(r => r with { Body = null }));
        var added = 1;
        while (added > 0 && ledger.NextPage() is { } page)
        {
            added = ledger.AddPage(page, ReadPage(rows, page));
        }
    }

    /// <summary>What a store answers for <paramref name="page"/>: unsettled rows not dead-lettered, in order.</summary>
    private static List<StoredQueueMessage> ReadPage(IEnumerable<StoredQueueMessage> rows, QueuePage page) =>
        rows.Where(r => r.Sequence > page.After && r.Sequence <= page.Through && !r.Settled && r.Status != QueueMessageStatus.DeadLettered)
            .OrderBy(r => r.Sequence)
            .Take(page.Limit)
            .ToList();

    [Fact]
    public void PendingMessagesAreNotDeliveredUntilCommitted()
    {
        var ledger = NewLedger();
        var outcome = ledger.Enqueue("a", null, [1], TimeSpan.Zero);
        Assert.Empty(ledger.Dequeue("c", 10, Visibility));
        Assert.Single(ledger.DrainChanges(), c => c.Kind == QueueChangeKind.Append && c.Sequence == outcome.Sequence);

        ledger.Commit([outcome.Sequence]);
        Assert.Equal("a", Assert.Single(ledger.Dequeue("c", 10, Visibility)).Id);
    }

    [Fact]
    public void ADuplicateOfAPendingMessageSeesItPendingUntilCommitted()
    {
        var ledger = NewLedger();
        var original = ledger.Enqueue("a", null, [1], TimeSpan.Zero);
        var duplicate = ledger.Enqueue("a", null, [2], TimeSpan.Zero);

        Assert.True(duplicate.Duplicate);
        Assert.Equal(original.Sequence, duplicate.Sequence);
        Assert.True(ledger.IsPending(duplicate.Sequence));
        ledger.Commit([original.Sequence]);
        Assert.False(ledger.IsPending(duplicate.Sequence));
    }

    [Fact]
    public void NewMessagesNumberAboveReservedSequences()
    {
        var ledger = NewLedger();
        ledger.Restore([]);
        ledger.ReserveSequencesThrough(41);
        Assert.Equal(42, ledger.Enqueue("a", null, [1], TimeSpan.Zero).Sequence);

        // Reserving below what is in use changes nothing.
        ledger.ReserveSequencesThrough(7);
        Assert.Equal(43, ledger.Enqueue("b", null, [1], TimeSpan.Zero).Sequence);
    }

    [Fact]
    public void AbortedEnqueueIsForgottenIncludingItsId()
    {
        var ledger = NewLedger();
        var first = ledger.Enqueue("a", null, [1], TimeSpan.Zero);
        ledger.Abort([first.Sequence]);
        Assert.Empty(ledger.Dequeue("c", 10, Visibility));

        var again = ledger.Enqueue("a", null, [1], TimeSpan.Zero);
        Assert.False(again.Duplicate);
    }

    [Fact]
    public void DequeueLeasesInOrderAndAckRemoves()
    {
        var ledger = NewLedger();
        Put(ledger, "a");
        Put(ledger, "b");
        Put(ledger, "c");

        var leases = ledger.Dequeue("c1", 2, Visibility);
        Assert.Equal(["a", "b"], leases.Select(l => l.Id));
        Assert.Equal(SettleOutcome.Ok, ledger.Ack(leases[0].Sequence, leases[0].LeaseToken));
        var counts = ledger.Counts();
        Assert.Equal(1, counts.Ready);
        Assert.Equal(1, counts.InFlight);
        Assert.Equal(1, counts.Acked);
    }

    [Fact]
    public void AckingTwiceIsReportedAndChangesNothing()
    {
        var ledger = NewLedger();
        Put(ledger, "a");
        var lease = ledger.Dequeue("c", 1, Visibility)[0];
        Assert.Equal(SettleOutcome.Ok, ledger.Ack(lease.Sequence, lease.LeaseToken));
        ledger.DrainChanges();

        Assert.Equal(SettleOutcome.AlreadySettled, ledger.Ack(lease.Sequence, lease.LeaseToken));
        Assert.Empty(ledger.DrainChanges());
        Assert.Equal(SettleOutcome.UnknownReceipt, ledger.Ack(999, 999));
    }

    [Fact]
    public void ExpiredLeaseIsRedeliveredAndTheOldReceiptIsStale()
    {
        var ledger = NewLedger();
        Put(ledger, "a");
        var first = ledger.Dequeue("crashing", 1, Visibility)[0];

        _time.Advance(TimeSpan.FromSeconds(29));
        Assert.Empty(ledger.Dequeue("other", 1, Visibility));

        _time.Advance(TimeSpan.FromSeconds(2));
        var second = Assert.Single(ledger.Dequeue("other", 1, Visibility));
        Assert.Equal("a", second.Id);
        Assert.Equal(2, second.Deliveries);
        Assert.Equal(SettleOutcome.LeaseLost, ledger.Ack(first.Sequence, first.LeaseToken));
        Assert.Equal(SettleOutcome.Ok, ledger.Ack(second.Sequence, second.LeaseToken));
        Assert.Equal(1, ledger.Counts().Redelivered);
    }

    [Fact]
    public void ExtendVisibilityKeepsTheLease()
    {
        var ledger = NewLedger();
        Put(ledger, "a");
        var lease = ledger.Dequeue("c", 1, Visibility)[0];
        _time.Advance(TimeSpan.FromSeconds(25));
        Assert.Equal(SettleOutcome.Ok, ledger.ExtendVisibility(lease.Sequence, lease.LeaseToken, TimeSpan.FromSeconds(60)));

        _time.Advance(TimeSpan.FromSeconds(30));
        Assert.Empty(ledger.Dequeue("other", 1, Visibility));
        Assert.Equal(SettleOutcome.Ok, ledger.Ack(lease.Sequence, lease.LeaseToken));
    }

    [Fact]
    public void MaxDeliveriesSendsTheMessageToTheDeadLetterList()
    {
        var ledger = NewLedger(maxDeliveries: 3);
        Put(ledger, "poison");
        for (var i = 1; i <= 3; i++)
        {
            var lease = Assert.Single(ledger.Dequeue("c", 1, Visibility));
            Assert.Equal(i, lease.Deliveries);
            _time.Advance(Visibility + TimeSpan.FromSeconds(1));
        }

        Assert.Empty(ledger.Dequeue("c", 1, Visibility));
        var dead = Assert.Single(ledger.DeadLetters(10));
        Assert.Equal("poison", dead.Id);
        Assert.Equal(1, ledger.Counts().DeadLettered);
        Assert.Contains(ledger.DrainChanges(), c => c.Kind == QueueChangeKind.Update && c.Status == QueueMessageStatus.DeadLettered);
    }

    [Fact]
    public void NackRequeuesAfterItsDelayOrDeadLetters()
    {
        var ledger = NewLedger(maxDeliveries: 5);
        Put(ledger, "a");
        Put(ledger, "b");
        var leases = ledger.Dequeue("c", 2, Visibility);

        Assert.Equal(SettleOutcome.Ok, ledger.Nack(leases[0].Sequence, leases[0].LeaseToken, TimeSpan.FromSeconds(10), deadLetter: false));
        Assert.Equal(SettleOutcome.Ok, ledger.Nack(leases[1].Sequence, leases[1].LeaseToken, TimeSpan.Zero, deadLetter: true));
        Assert.Empty(ledger.Dequeue("c", 2, Visibility));
        Assert.Equal(1, ledger.Counts().Delayed);
        Assert.Equal("b", Assert.Single(ledger.DeadLetters(10)).Id);

        _time.Advance(TimeSpan.FromSeconds(10));
        var again = Assert.Single(ledger.Dequeue("c", 2, Visibility));
        Assert.Equal("a", again.Id);
        Assert.Equal(2, again.Deliveries);
    }

    [Fact]
    public void NackOnTheLastDeliveryDeadLetters()
    {
        var ledger = NewLedger(maxDeliveries: 1);
        Put(ledger, "a");
        var lease = ledger.Dequeue("c", 1, Visibility)[0];
        ledger.Nack(lease.Sequence, lease.LeaseToken, TimeSpan.Zero, deadLetter: false);
        Assert.Single(ledger.DeadLetters(10));
    }

    [Fact]
    public void GeneratedIdsAreNotDeduplicatedAndTheirAckDeletesTheRow()
    {
        var ledger = NewLedger();
        var first = ledger.Enqueue("generated", null, [1], TimeSpan.Zero, deduplicate: false);
        ledger.Commit([first.Sequence]);
        Assert.False(ledger.Enqueue("generated", null, [2], TimeSpan.Zero, deduplicate: false).Duplicate);
        ledger.Commit(ledger.PendingSequences());
        Put(ledger, "producer-id");
        ledger.DrainChanges();

        foreach (var lease in ledger.Dequeue("c", 10, Visibility))
        {
            Assert.Equal(SettleOutcome.Ok, ledger.Ack(lease.Sequence, lease.LeaseToken));
        }

        var changes = ledger.DrainChanges();
        Assert.Equal(2, changes.Count(c => c.Kind == QueueChangeKind.Delete && c.Id == "generated"));
        Assert.Single(changes, c => c.Kind == QueueChangeKind.Settle && c.Id == "producer-id");
        Assert.True(ledger.Enqueue("producer-id", null, [3], TimeSpan.Zero).Duplicate);
        Assert.Equal(SettleOutcome.AlreadySettled, ledger.Ack(first.Sequence, 1));
    }

    [Fact]
    public void RedriveReturnsDeadLettersAsFreshMessagesAndPurgeDeletesThem()
    {
        var ledger = NewLedger(maxDeliveries: 1);
        Put(ledger, "a");
        Put(ledger, "b");
        var bodies = new Dictionary<long, byte[]>();
        foreach (var lease in ledger.Dequeue("c", 2, Visibility))
        {
            bodies[lease.Sequence] = lease.Body!;
            ledger.Nack(lease.Sequence, lease.LeaseToken, TimeSpan.Zero, deadLetter: true);
        }

        // Dead letters' bodies left memory: the owner reads them from storage and hands them in.
        Assert.All(ledger.DeadLetters(10), m => Assert.Null(m.Body));
        ledger.DrainChanges();
        var first = bodies.Keys.Min();
        Assert.Equal(1, ledger.Redrive(new Dictionary<long, byte[]> { [first] = bodies[first] }));
        var changes = ledger.DrainChanges();
        Assert.Contains(changes, c => c.Kind == QueueChangeKind.Settle && c.Id == "a");
        Assert.Contains(changes, c => c.Kind == QueueChangeKind.Append && c.Id == "a");
        ledger.Commit(ledger.PendingSequences());

        var redriven = Assert.Single(ledger.Dequeue("c", 5, Visibility));
        Assert.Equal("a", redriven.Id);
        Assert.Equal(1, redriven.Deliveries);

        Assert.Equal(1, ledger.PurgeDeadLetters());
        Assert.Empty(ledger.DeadLetters(10));
    }

    [Fact]
    public void DelayedMessageIsInvisibleUntilItsTime()
    {
        var ledger = NewLedger();
        Put(ledger, "later", delay: TimeSpan.FromSeconds(5));
        Put(ledger, "now");

        Assert.Equal("now", Assert.Single(ledger.Dequeue("c", 10, Visibility)).Id);
        Assert.Equal(1, ledger.Counts().Delayed);
        Assert.Equal(_time.GetUtcNow() + TimeSpan.FromSeconds(5), ledger.NextWakeUp());

        _time.Advance(TimeSpan.FromSeconds(5));
        Assert.Equal("later", Assert.Single(ledger.Dequeue("c", 10, Visibility)).Id);
    }

    [Fact]
    public void DuplicateIdInsideTheWindowIsIgnoredAndAcceptedAfterIt()
    {
        var ledger = NewLedger(dedupMinutes: 1);
        var first = Put(ledger, "m-1");
        var lease = ledger.Dequeue("c", 1, Visibility)[0];
        ledger.Ack(lease.Sequence, lease.LeaseToken);
        ledger.DrainChanges();

        var duplicate = ledger.Enqueue("m-1", null, [9], TimeSpan.Zero);
        Assert.True(duplicate.Duplicate);
        Assert.Equal(first, duplicate.Sequence);
        Assert.Empty(ledger.DrainChanges());
        Assert.Empty(ledger.Dequeue("c", 1, Visibility));

        _time.Advance(TimeSpan.FromMinutes(1));
        Assert.False(ledger.Enqueue("m-1", null, [9], TimeSpan.Zero).Duplicate);
    }

    [Fact]
    public void SameKeyIsDeliveredOneAtATimeInOrder()
    {
        var ledger = NewLedger();
        Put(ledger, "k1-a", key: "k1");
        Put(ledger, "k1-b", key: "k1");
        Put(ledger, "k2-a", key: "k2");
        Put(ledger, "free");

        var first = ledger.Dequeue("c", 10, Visibility);
        Assert.Equal(["k1-a", "k2-a", "free"], first.Select(l => l.Id));
        Assert.Empty(ledger.Dequeue("c", 10, Visibility));

        var k1a = first[0];
        ledger.Ack(k1a.Sequence, k1a.LeaseToken);
        Assert.Equal("k1-b", Assert.Single(ledger.Dequeue("c", 10, Visibility)).Id);
    }

    [Fact]
    public void KeyOrderHoldsAcrossRedelivery()
    {
        var ledger = NewLedger();
        Put(ledger, "a1", key: "k");
        Put(ledger, "a2", key: "k");
        ledger.Dequeue("crashing", 10, Visibility);
        _time.Advance(Visibility);

        var redelivered = ledger.Dequeue("c", 10, Visibility);
        Assert.Equal(["a1"], redelivered.Select(l => l.Id));
        ledger.Nack(redelivered[0].Sequence, redelivered[0].LeaseToken, TimeSpan.Zero, deadLetter: true);
        Assert.Equal(["a2"], ledger.Dequeue("c", 10, Visibility).Select(l => l.Id));
    }

    [Fact]
    public void RestoreRebuildsReadyDeadAndDedupFromStoredRows()
    {
        var now = _time.GetUtcNow();
        var ledger = NewLedger();
        Recover(ledger,
        [
            new StoredQueueMessage(1, "acked", null, null, now, now, 1, QueueMessageStatus.Ready, Settled: true, now),
            new StoredQueueMessage(2, "k-first", "k", [1], now, now, 2, QueueMessageStatus.Ready, Settled: false, default),
            new StoredQueueMessage(3, "k-second", "k", [2], now, now, 0, QueueMessageStatus.Ready, Settled: false, default),
            new StoredQueueMessage(4, "dead", null, [3], now, now, 3, QueueMessageStatus.DeadLettered, Settled: false, default),
        ]);

        Assert.Equal(5, ledger.NextSequence);
        Assert.True(ledger.Enqueue("acked", null, [0], TimeSpan.Zero).Duplicate);
        var lease = Assert.Single(ledger.Dequeue("c", 10, Visibility));
        Assert.Equal("k-first", lease.Id);
        Assert.Equal(3, lease.Deliveries);
        Assert.Equal("dead", Assert.Single(ledger.DeadLetters(10)).Id);
    }

    [Fact]
    public void ReceiptFromAnEarlierIncarnationCannotSettleANewLease()
    {
        var now = _time.GetUtcNow();
        var before = NewLedger();
        before.StartTokensAt(1L << 32);
        Put(before, "a");
        var old = before.Dequeue("c", 1, Visibility)[0];

        var after = NewLedger();
        Recover(after, [new StoredQueueMessage(old.Sequence, "a", null, [1], now, now, 0, QueueMessageStatus.Ready, Settled: false, default)]);
        after.StartTokensAt(2L << 32);
        var fresh = after.Dequeue("c2", 1, Visibility)[0];

        Assert.NotEqual(old.LeaseToken, fresh.LeaseToken);
        Assert.Equal(SettleOutcome.LeaseLost, after.Ack(old.Sequence, old.LeaseToken));
        Assert.Equal(SettleOutcome.Ok, after.Ack(fresh.Sequence, fresh.LeaseToken));
    }

    [Fact]
    public void SettledLeasesDoNotLeaveAWakeUpBehind()
    {
        var ledger = NewLedger();
        Put(ledger, "a");
        var lease = ledger.Dequeue("c", 1, Visibility)[0];
        Assert.Equal(lease.LeaseExpiresAt, ledger.NextWakeUp());

        ledger.ExtendVisibility(lease.Sequence, lease.LeaseToken, TimeSpan.FromMinutes(5));
        Assert.Equal(_time.GetUtcNow() + TimeSpan.FromMinutes(5), ledger.NextWakeUp());
        ledger.Ack(lease.Sequence, lease.LeaseToken);
        Assert.Null(ledger.NextWakeUp());
    }

    [Fact]
    public void RateMeterAveragesOverItsWindow()
    {
        var meter = new RateMeter(_time, windowSeconds: 10);
        meter.Add(50);
        _time.Advance(TimeSpan.FromSeconds(1));
        meter.Add(50);
        Assert.Equal(10, meter.PerSecond());
        _time.Advance(TimeSpan.FromSeconds(20));
        Assert.Equal(0, meter.PerSecond());
    }

    /// <summary>Stored rows as a store keeps them: the ledger's journal applied (appends with bodies, updates, settles, deletes).</summary>
    private static void Apply(SortedDictionary<long, StoredQueueMessage> rows, IEnumerable<QueuePartitionChange> changes)
    {
        foreach (var c in changes)
        {
            switch (c.Kind)
            {
                case QueueChangeKind.Append:
                    rows[c.Sequence] = new StoredQueueMessage(c.Sequence, c.Id, c.Key, c.Body, c.EnqueuedAt, c.VisibleAt, c.Deliveries, QueueMessageStatus.Ready, false, default, c.Deduplicated);
                    break;
                case QueueChangeKind.Update:
                    rows[c.Sequence] = rows[c.Sequence] with { VisibleAt = c.VisibleAt, Deliveries = c.Deliveries, Status = c.Status };
                    break;
                case QueueChangeKind.Settle:
                    rows[c.Sequence] = rows[c.Sequence] with { Body = null, Settled = true, SettledAt = c.At };
                    break;
                default:
                    rows.Remove(c.Sequence);
                    break;
            }
        }
    }

    /// <summary>Enqueues and commits one message, storing its append; pages stored messages in when the ledger asks.</summary>
    private static void PutStored(QueuePartitionLedger ledger, SortedDictionary<long, StoredQueueMessage> rows, string id, string? key = null)
    {
        var outcome = ledger.Enqueue(id, key, Encoding.UTF8.GetBytes("body-" + id), TimeSpan.Zero);
        Apply(rows, ledger.DrainChanges());
        ledger.Commit([outcome.Sequence]);
        PageIn(ledger, rows);
    }

    private static void PageIn(QueuePartitionLedger ledger, SortedDictionary<long, StoredQueueMessage> rows)
    {
        var added = 1;
        while (added > 0 && ledger.NextPage() is { } page)
        {
            added = ledger.AddPage(page, ReadPage(rows.Values, page));
        }
    }

    [Fact]
    public void OnlyTheMemoryWindowHoldsBodiesAndStoredMessagesComeBackInOrder()
    {
        const int Window = 8;
        var ledger = new QueuePartitionLedger(new QueuePartitionSettings(5, TimeSpan.FromMinutes(5)) { MemoryWindow = Window }, _time);
        var rows = new SortedDictionary<long, StoredQueueMessage>();
        for (var i = 0; i < 100; i++)
        {
            PutStored(ledger, rows, "m" + i, key: i % 3 == 0 ? "k" : null);
        }

        var counts = ledger.Counts();
        Assert.Equal(Window, counts.Bodies);
        Assert.Equal(100 - Window, counts.Stored);
        Assert.Equal(100, ledger.Held);

        var delivered = new List<string>();
        var maxBodies = 0;
        while (delivered.Count < 100)
        {
            var leases = ledger.Dequeue("c", 3, Visibility);
            Assert.True(leases.Count > 0, $"stalled after {delivered.Count} deliveries with {ledger.Counts()}");
            foreach (var lease in leases)
            {
                Assert.Equal(Encoding.UTF8.GetBytes("body-" + lease.Id), lease.Body);
                delivered.Add(lease.Id);
                Assert.Equal(SettleOutcome.Ok, ledger.Ack(lease.Sequence, lease.LeaseToken));
            }

            Apply(rows, ledger.DrainChanges());
            PageIn(ledger, rows);
            maxBodies = Math.Max(maxBodies, ledger.Counts().Bodies);
        }

        Assert.Equal(Enumerable.Range(0, 100).Select(i => "m" + i), delivered);
        Assert.True(maxBodies <= Window, $"{maxBodies} bodies in memory with a window of {Window}");
        Assert.Equal(0, ledger.Held);
    }

    [Fact]
    public void KeyOrderHoldsAcrossTheWindowWhenTheHeadIsRedelivered()
    {
        var ledger = new QueuePartitionLedger(new QueuePartitionSettings(5, TimeSpan.FromMinutes(5)) { MemoryWindow = 2 }, _time);
        var rows = new SortedDictionary<long, StoredQueueMessage>();
        for (var i = 0; i < 6; i++)
        {
            PutStored(ledger, rows, "k" + i, key: "k");
        }

        // The head is leased and its lease runs out: it comes back without a body (storage has it).
        var first = Assert.Single(ledger.Dequeue("crashing", 10, Visibility));
        Assert.Equal("k0", first.Id);
        _time.Advance(Visibility);
        var again = Assert.Single(ledger.Dequeue("c", 10, Visibility));
        Assert.Equal("k0", again.Id);
        Assert.Null(again.Body);
        Assert.Equal(2, again.Deliveries);

        var order = new List<string> { again.Id };
        var lease = again;
        while (true)
        {
            Assert.Equal(SettleOutcome.Ok, ledger.Ack(lease.Sequence, lease.LeaseToken));
            Apply(rows, ledger.DrainChanges());
            PageIn(ledger, rows);
            var next = ledger.Dequeue("c", 10, Visibility);
            if (next.Count == 0)
            {
                break;
            }

            lease = Assert.Single(next);
            order.Add(lease.Id);
        }

        Assert.Equal(Enumerable.Range(0, 6).Select(i => "k" + i), order);
    }

    [Fact]
    public void DepthCountsEveryHeldMessageAndReservationsTakeRoom()
    {
        var ledger = new QueuePartitionLedger(new QueuePartitionSettings(1, TimeSpan.FromMinutes(5)) { MaxMessages = 3 }, _time);
        Put(ledger, "a");
        Put(ledger, "b");
        var lease = ledger.Dequeue("c", 1, Visibility)[0];
        ledger.Nack(lease.Sequence, lease.LeaseToken, TimeSpan.Zero, deadLetter: true);

        // One ready, one dead-lettered: room for one more, and a reservation takes it.
        Assert.True(ledger.HasRoomFor(1));
        Assert.False(ledger.HasRoomFor(2));
        var reservation = ledger.Reserve(1, TimeSpan.FromSeconds(10));
        Assert.NotEqual(0, reservation);
        Assert.False(ledger.HasRoomFor(1));
        Assert.Equal(0, ledger.Reserve(1, TimeSpan.FromSeconds(10)));

        // Given back, or run out by the clock: the room is free again.
        ledger.Release(reservation);
        Assert.True(ledger.HasRoomFor(1));
        Assert.NotEqual(0, ledger.Reserve(1, TimeSpan.FromSeconds(10)));
        _time.Advance(TimeSpan.FromSeconds(10));
        Assert.True(ledger.HasRoomFor(1));

        // Purging dead letters frees room.
        Put(ledger, "c");
        Assert.False(ledger.HasRoomFor(1));
        Assert.Equal(1, ledger.PurgeDeadLetters());
        Assert.True(ledger.HasRoomFor(1));
    }
}
