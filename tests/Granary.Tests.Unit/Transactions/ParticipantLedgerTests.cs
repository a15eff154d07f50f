using Granary.Transactions;
using Microsoft.Extensions.Time.Testing;

namespace Granary.Tests.Unit.Transactions;

public sealed class ParticipantLedgerTests
{
    private readonly FakeTimeProvider _time = new(new DateTimeOffset(2026, 1, 1, 0, 0, 0, TimeSpan.Zero));
    private readonly ParticipantLedger _ledger = new();

    private DateTimeOffset Now => _time.GetUtcNow();

    [Fact]
    public void Prepare_commit_and_their_duplicates_are_idempotent()
    {
        Assert.Equal(PrepareVerdict.Reserve, _ledger.CheckPrepare("t", "fp"));
        _ledger.RecordPrepared("t", "fp", Now);
        Assert.Equal(PrepareVerdict.AlreadyPrepared, _ledger.CheckPrepare("t", "fp"));
        Assert.Equal(CommitVerdict.Apply, _ledger.Commit("t", Now));
        Assert.Equal(CommitVerdict.AlreadyCommitted, _ledger.Commit("t", Now));
        Assert.Equal(PrepareVerdict.AlreadyCommitted, _ledger.CheckPrepare("t", "fp"));
        Assert.Equal(AbortVerdict.RefusedCommitted, _ledger.Abort("t", Now));
        Assert.Equal(ParticipantStatus.Committed, _ledger.Find("t")!.Status);
    }

    [Fact]
    public void Prepare_abort_and_duplicates_release_once()
    {
        _ledger.RecordPrepared("t", "fp", Now);
        Assert.Equal(AbortVerdict.Release, _ledger.Abort("t", Now));
        Assert.Equal(AbortVerdict.AlreadyAborted, _ledger.Abort("t", Now));
        Assert.Equal(CommitVerdict.RefusedAborted, _ledger.Commit("t", Now));
        Assert.Equal(PrepareVerdict.AlreadyAborted, _ledger.CheckPrepare("t", "fp"));
    }

    [Fact]
    public void A_commit_for_an_unknown_transaction_is_refused()
    {
        Assert.Equal(CommitVerdict.RefusedUnknown, _ledger.Commit("never", Now));
        Assert.Null(_ledger.Find("never"));
    }

    [Fact]
    public void An_abort_that_overtakes_its_prepare_makes_the_late_prepare_vote_no()
    {
        Assert.Equal(AbortVerdict.RecordedUnknown, _ledger.Abort("t", Now));
        Assert.Equal(PrepareVerdict.AlreadyAborted, _ledger.CheckPrepare("t", "fp"));
        Assert.Equal(CommitVerdict.RefusedAborted, _ledger.Commit("t", Now));
    }

    [Fact]
    public void A_refused_prepare_is_remembered_as_aborted()
    {
        _ledger.RecordRefused("t", "fp", Now);
        Assert.Equal(PrepareVerdict.AlreadyAborted, _ledger.CheckPrepare("t", "fp"));
        Assert.Equal(CommitVerdict.RefusedAborted, _ledger.Commit("t", Now));
        Assert.Equal(AbortVerdict.AlreadyAborted, _ledger.Abort("t", Now));
    }

    [Fact]
    public void The_same_id_with_other_content_is_a_conflict()
    {
        _ledger.RecordPrepared("t", "fp-1", Now);
        Assert.Equal(PrepareVerdict.Conflict, _ledger.CheckPrepare("t", "fp-2"));
        _ledger.Commit("t", Now);
        Assert.Equal(PrepareVerdict.Conflict, _ledger.CheckPrepare("t", "fp-2"));
        Assert.Throws<InvalidOperationException>(() => _ledger.RecordPrepared("t", "fp-1", Now));
    }

    [Fact]
    public void A_prepared_participant_that_hears_nothing_asks_after_its_timeout_then_at_intervals()
    {
        var timeout = TimeSpan.FromSeconds(10);
        var interval = TimeSpan.FromSeconds(2);
        _ledger.RecordPrepared("old", "fp", Now);
        _time.Advance(TimeSpan.FromSeconds(5));
        _ledger.RecordPrepared("young", "fp", Now);
        Assert.Empty(_ledger.DueForInquiry(Now, timeout, interval));
        _time.Advance(TimeSpan.FromSeconds(5));
        Assert.Equal(["old"], _ledger.DueForInquiry(Now, timeout, interval));
        _ledger.MarkInquired("old", Now);
        _time.Advance(TimeSpan.FromSeconds(1));
        Assert.Empty(_ledger.DueForInquiry(Now, timeout, interval));
        _time.Advance(TimeSpan.FromSeconds(4));
        Assert.Equal(["old", "young"], _ledger.DueForInquiry(Now, timeout, interval));
    }

    [Theory]
    [InlineData(InquiryAnswer.Unknown, ParticipantStatus.Aborted)]
    [InlineData(InquiryAnswer.Aborted, ParticipantStatus.Aborted)]
    [InlineData(InquiryAnswer.Committed, ParticipantStatus.Committed)]
    [InlineData(InquiryAnswer.Pending, ParticipantStatus.Prepared)]
    public void Cooperative_termination_follows_the_coordinator_answer_and_presumes_abort_on_no_record(InquiryAnswer answer, ParticipantStatus expected)
    {
        _ledger.RecordPrepared("t", "fp", Now);
        _time.Advance(TimeSpan.FromMinutes(1));
        Assert.Equal(["t"], _ledger.DueForInquiry(Now, TimeSpan.FromSeconds(10), TimeSpan.FromSeconds(1)));
        _ledger.MarkInquired("t", Now);
        switch (answer)
        {
            case InquiryAnswer.Committed:
                Assert.Equal(CommitVerdict.Apply, _ledger.Commit("t", Now));
                break;
            case InquiryAnswer.Aborted or InquiryAnswer.Unknown:
                Assert.Equal(AbortVerdict.Release, _ledger.Abort("t", Now));
                // The coordinator's late commit for a transaction it has no record of is refused.
                Assert.Equal(CommitVerdict.RefusedAborted, _ledger.Commit("t", Now));
                break;
        }

        Assert.Equal(expected, _ledger.Find("t")!.Status);
    }

    [Fact]
    public void Recovery_from_persisted_entries_keeps_every_state()
    {
        _ledger.RecordPrepared("p", "fp", Now);
        _ledger.RecordPrepared("c", "fp", Now);
        _ledger.Commit("c", Now);
        _ledger.Abort("a", Now);
        var restored = new ParticipantLedger(_ledger.Entries.ToList());
        Assert.Equal(PrepareVerdict.AlreadyPrepared, restored.CheckPrepare("p", "fp"));
        Assert.Equal(CommitVerdict.Apply, restored.Commit("p", Now));
        Assert.Equal(CommitVerdict.AlreadyCommitted, restored.Commit("c", Now));
        Assert.Equal(PrepareVerdict.AlreadyAborted, restored.CheckPrepare("a", "fp"));
    }

    [Fact]
    public void Pruning_forgets_old_finished_entries_but_never_prepared_ones()
    {
        _ledger.RecordPrepared("p", "fp", Now);
        for (var i = 0; i < 5; i++)
        {
            _ledger.RecordPrepared("c" + i, "fp", Now);
            _ledger.Commit("c" + i, Now);
            _time.Advance(TimeSpan.FromSeconds(1));
        }

        Assert.Equal(2, _ledger.Prune(Now, TimeSpan.FromHours(1), maxFinished: 3));
        Assert.Null(_ledger.Find("c0"));
        Assert.NotNull(_ledger.Find("c2"));
        _time.Advance(TimeSpan.FromHours(2));
        Assert.Equal(3, _ledger.Prune(Now, TimeSpan.FromHours(1), maxFinished: 3));
        Assert.Equal(ParticipantStatus.Prepared, Assert.Single(_ledger.Entries).Status);
    }

    [Fact]
    public void Pruning_by_count_keeps_entries_younger_than_the_floor()
    {
        for (var i = 0; i < 6; i++)
        {
            _ledger.RecordPrepared("c" + i, "fp", Now);
            _ledger.Commit("c" + i, Now);
            _time.Advance(TimeSpan.FromSeconds(1));
        }

        // Finished 6, 5, 4, 3, 2 and 1 s ago: over the cap of 2, but only those older than the
        // 3.5 s floor may go (c0, c1, c2); c3..c5 stay although that leaves 3.
        Assert.Equal(3, _ledger.Prune(Now, TimeSpan.FromHours(1), maxFinished: 2, keepAtLeast: TimeSpan.FromSeconds(3.5)));
        Assert.Equal(new[] { "c3", "c4", "c5" }, _ledger.Entries.Select(e => e.TransactionId).Order(StringComparer.Ordinal));

        // Once they age past the floor the cap applies to them too.
        _time.Advance(TimeSpan.FromSeconds(10));
        Assert.Equal(1, _ledger.Prune(Now, TimeSpan.FromHours(1), maxFinished: 2, keepAtLeast: TimeSpan.FromSeconds(3.5)));
        Assert.Null(_ledger.Find("c3"));

        // Entries exempt from the count (three-phase ones) stay for the whole retention.
        Assert.Equal(0, _ledger.Prune(Now, TimeSpan.FromHours(1), maxFinished: 0, exempt: e => true));
        Assert.Equal(1, _ledger.Prune(Now, TimeSpan.FromHours(1), maxFinished: 1, exempt: e => e.TransactionId == "c5"));
        Assert.Equal("c5", Assert.Single(_ledger.Entries).TransactionId);
    }

    [Fact]
    public void Pruning_drops_what_the_plain_rule_drops_on_random_ledgers()
    {
        // The rule written plainly (sort every finished entry by time, ties in ledger order): all past
        // the retention, then the oldest past the floor and not exempt until the cap is met. Prune
        // sorts only the entries past the floor or the retention; it must drop the same ones.
        static HashSet<string> Plain(IReadOnlyCollection<ParticipantEntry> entries, DateTimeOffset now, TimeSpan retention, int maxFinished, TimeSpan keepAtLeast, Func<ParticipantEntry, bool> exempt)
        {
            var finished = entries.Where(e => !e.IsOpen).OrderBy(e => e.Since).ToList();
            var drop = finished.Where(e => now - e.Since > retention).Select(e => e.TransactionId).ToHashSet(StringComparer.Ordinal);
            var excess = finished.Count - drop.Count - maxFinished;
            foreach (var e in finished.Where(e => !drop.Contains(e.TransactionId) && now - e.Since > keepAtLeast && !exempt(e)).Take(Math.Max(0, excess)))
            {
                drop.Add(e.TransactionId);
            }

            return drop;
        }

        var random = new Random(20261203);
        var now = new DateTimeOffset(2026, 12, 3, 9, 0, 0, TimeSpan.Zero);
        var statuses = new[] { ParticipantStatus.Prepared, ParticipantStatus.PreCommitted, ParticipantStatus.Committed, ParticipantStatus.Aborted };
        var droppedSome = 0;
        for (var run = 0; run < 2_000; run++)
        {
            // Times on a coarse grid so that ties are common.
            var entries = Enumerable.Range(0, random.Next(0, 60)).Select(i => new ParticipantEntry(
                "tx-" + i, "fp", statuses[random.Next(statuses.Length)], now - TimeSpan.FromSeconds(random.Next(0, 40)), null,
                random.Next(4) == 0 ? TimeSpan.FromSeconds(5) : null)).ToList();
            var retention = TimeSpan.FromSeconds(random.Next(0, 45));
            var floor = TimeSpan.FromSeconds(random.Next(0, 45));
            var cap = random.Next(0, 30);
            Func<ParticipantEntry, bool> exempt = random.Next(2) == 0 ? e => e.IsThreePhase : e => false;
            var ledger = new ParticipantLedger(entries);
            var expected = Plain(ledger.Entries, now, retention, cap, floor, exempt);

            var dropped = ledger.Prune(now, retention, cap, floor, exempt);

            Assert.Equal(expected.Count, dropped);
            Assert.Equal(entries.Select(e => e.TransactionId).Where(id => !expected.Contains(id)).Order(StringComparer.Ordinal), ledger.Entries.Select(e => e.TransactionId).Order(StringComparer.Ordinal));
            droppedSome += dropped > 0 ? 1 : 0;
        }

        Assert.InRange(droppedSome, 500, 1_900);
    }
}
