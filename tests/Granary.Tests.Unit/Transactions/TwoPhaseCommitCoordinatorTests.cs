using Granary.Transactions;
using Microsoft.Extensions.Time.Testing;

namespace Granary.Tests.Unit.Transactions;

public sealed class TwoPhaseCommitCoordinatorTests
{
    private static readonly TimeSpan Timeout = TimeSpan.FromSeconds(5);
    private readonly FakeTimeProvider _time = new(new DateTimeOffset(2026, 1, 1, 0, 0, 0, TimeSpan.Zero));

    private TwoPhaseCommitCoordinator Started(params string[] participants)
    {
        var c = new TwoPhaseCommitCoordinator("tx-1", "fp", participants);
        c.BeginPrepare(_time.GetUtcNow(), Timeout);
        return c;
    }

    public static TheoryData<string, TransactionDecision> VoteCombinations()
    {
        // Every combination of yes / no / silent (timeout) for three participants.
        var data = new TheoryData<string, TransactionDecision>();
        var options = new[] { 'y', 'n', 't' };
        foreach (var a in options)
        {
            foreach (var b in options)
            {
                foreach (var c in options)
                {
                    var combo = new string([a, b, c]);
                    data.Add(combo, combo == "yyy" ? TransactionDecision.Commit : TransactionDecision.Abort);
                }
            }
        }

        return data;
    }

    [Theory]
    [MemberData(nameof(VoteCombinations))]
    public void Every_vote_and_timeout_combination_decides_commit_only_when_all_vote_yes(string combo, TransactionDecision expected)
    {
        var c = Started("a", "b", "c");
        var names = new[] { "a", "b", "c" };
        var decision = TransactionDecision.None;
        for (var i = 0; i < 3; i++)
        {
            if (combo[i] == 't')
            {
                continue;
            }

            var d = c.OnVote(names[i], combo[i] == 'y' ? Vote.Yes : Vote.No, null, _time.GetUtcNow());
            if (d != TransactionDecision.None)
            {
                decision = d;
            }
        }

        if (decision == TransactionDecision.None)
        {
            Assert.Equal(TransactionDecision.None, c.OnTick(_time.GetUtcNow() + Timeout - TimeSpan.FromTicks(1)));
            _time.Advance(Timeout);
            decision = c.OnTick(_time.GetUtcNow());
        }

        Assert.Equal(expected, decision);
        Assert.Equal(expected, c.Decision);
        Assert.Equal(expected == TransactionDecision.Commit ? CoordinatorPhase.Committing : CoordinatorPhase.Aborting, c.Phase);
        if (combo.Contains('t', StringComparison.Ordinal) && !combo.Contains('n', StringComparison.Ordinal))
        {
            Assert.Contains("timed out", c.AbortReason, StringComparison.Ordinal);
        }
    }

    [Fact]
    public void Votes_after_the_decision_change_nothing()
    {
        var c = Started("a", "b");
        Assert.Equal(TransactionDecision.Abort, c.OnVote("a", Vote.No, "insufficient funds", _time.GetUtcNow()));
        Assert.Equal(TransactionDecision.None, c.OnVote("b", Vote.Yes, null, _time.GetUtcNow()));
        Assert.Equal(TransactionDecision.Abort, c.Decision);
        Assert.Equal("insufficient funds", c.AbortReason);
    }

    [Fact]
    public void Duplicate_yes_votes_do_not_count_twice_and_strangers_are_ignored()
    {
        var c = Started("a", "b");
        Assert.Equal(TransactionDecision.None, c.OnVote("a", Vote.Yes, null, _time.GetUtcNow()));
        Assert.Equal(TransactionDecision.None, c.OnVote("a", Vote.Yes, null, _time.GetUtcNow()));
        Assert.Equal(TransactionDecision.None, c.OnVote("zz", Vote.Yes, null, _time.GetUtcNow()));
        Assert.False(c.IsDecided);
        Assert.Equal(TransactionDecision.Commit, c.OnVote("b", Vote.Yes, null, _time.GetUtcNow()));
    }

    [Fact]
    public void A_later_no_from_a_participant_that_voted_yes_is_ignored()
    {
        var c = Started("a", "b");
        c.OnVote("a", Vote.Yes, null, _time.GetUtcNow());
        Assert.Equal(TransactionDecision.None, c.OnVote("a", Vote.No, null, _time.GetUtcNow()));
        Assert.Equal(TransactionDecision.Commit, c.OnVote("b", Vote.Yes, null, _time.GetUtcNow()));
    }

    [Fact]
    public void A_failed_prepare_call_aborts()
    {
        var c = Started("a", "b");
        Assert.Equal(TransactionDecision.Abort, c.OnPrepareFailed("b", "silo unavailable", _time.GetUtcNow()));
        Assert.Contains("silo unavailable", c.AbortReason, StringComparison.Ordinal);
    }

    [Fact]
    public void Acknowledgements_complete_the_transaction_once_everyone_acked_including_duplicates()
    {
        var c = Started("a", "b");
        Assert.False(c.OnAcknowledged("a")); // ack before any decision is meaningless
        c.OnVote("a", Vote.Yes, null, _time.GetUtcNow());
        c.OnVote("b", Vote.Yes, null, _time.GetUtcNow());
        Assert.False(c.OnAcknowledged("a"));
        Assert.False(c.OnAcknowledged("a"));
        Assert.Equal(["b"], c.Unacknowledged);
        Assert.True(c.OnAcknowledged("b"));
        Assert.Equal(CoordinatorPhase.Done, c.Phase);
        Assert.False(c.OnAcknowledged("b"));
        Assert.Equal(InquiryAnswer.Committed, c.Answer());
    }

    [Fact]
    public void Inquiry_answers_follow_the_phase()
    {
        var c = new TwoPhaseCommitCoordinator("tx", "fp", ["a"]);
        Assert.Equal(InquiryAnswer.Unknown, c.Answer());
        c.BeginPrepare(_time.GetUtcNow(), Timeout);
        Assert.Equal(InquiryAnswer.Pending, c.Answer());
        c.OnVote("a", Vote.No, null, _time.GetUtcNow());
        Assert.Equal(InquiryAnswer.Aborted, c.Answer());
    }

    [Fact]
    public void Begin_prepare_twice_is_a_bug()
    {
        var c = Started("a");
        Assert.Throws<InvalidOperationException>(() => c.BeginPrepare(_time.GetUtcNow(), Timeout));
    }

    [Theory]
    [InlineData("a", "a")]
    [InlineData()]
    public void Participants_must_be_distinct_and_non_empty(params string[] participants)
    {
        Assert.Throws<ArgumentException>(() => new TwoPhaseCommitCoordinator("tx", "fp", participants));
    }

    [Fact]
    public void Recovery_of_an_undecided_snapshot_presumes_abort()
    {
        var snapshot = new CoordinatorSnapshot("tx", "fp", ["a", "b"], CoordinatorPhase.Preparing, TransactionDecision.None, [], null, null);
        var c = TwoPhaseCommitCoordinator.Recover(snapshot, _time.GetUtcNow());
        Assert.Equal(TransactionDecision.Abort, c.Decision);
        Assert.Equal(CoordinatorPhase.Aborting, c.Phase);
        Assert.Equal(["a", "b"], c.Unacknowledged);
    }

    [Theory]
    [InlineData(TransactionDecision.Commit, CoordinatorPhase.Committing)]
    [InlineData(TransactionDecision.Abort, CoordinatorPhase.Aborting)]
    public void Recovery_of_a_decided_snapshot_resumes_phase_two_for_the_unacknowledged(TransactionDecision decision, CoordinatorPhase phase)
    {
        var c1 = Started("a", "b", "c");
        foreach (var p in c1.Participants)
        {
            c1.OnVote(p, decision == TransactionDecision.Commit ? Vote.Yes : Vote.No, null, _time.GetUtcNow());
        }

        c1.OnAcknowledged("b");
        var c2 = TwoPhaseCommitCoordinator.Recover(c1.ToSnapshot(), _time.GetUtcNow());
        Assert.Equal(decision, c2.Decision);
        Assert.Equal(phase, c2.Phase);
        Assert.Equal(["a", "c"], c2.Unacknowledged);
        Assert.False(c2.OnAcknowledged("a"));
        Assert.True(c2.OnAcknowledged("c"));
    }

    [Fact]
    public void Recovery_of_a_done_snapshot_stays_done()
    {
        var snapshot = new CoordinatorSnapshot("tx", "fp", ["a"], CoordinatorPhase.Done, TransactionDecision.Commit, ["a"], null, _time.GetUtcNow());
        var c = TwoPhaseCommitCoordinator.Recover(snapshot, _time.GetUtcNow());
        Assert.Equal(CoordinatorPhase.Done, c.Phase);
        Assert.Empty(c.Unacknowledged);
        Assert.Equal(InquiryAnswer.Committed, c.Answer());
    }

    [Fact]
    public void Backoff_grows_exponentially_is_capped_and_jittered()
    {
        var b = new RetryBackoff(TimeSpan.FromMilliseconds(100), TimeSpan.FromSeconds(1), 0.5);
        Assert.Equal(TimeSpan.FromMilliseconds(100), b.Delay(1, 0));
        Assert.Equal(TimeSpan.FromMilliseconds(200), b.Delay(2, 0));
        Assert.Equal(TimeSpan.FromMilliseconds(400), b.Delay(3, 0));
        Assert.Equal(TimeSpan.FromSeconds(1), b.Delay(10, 0));
        Assert.Equal(TimeSpan.FromSeconds(1), b.Delay(1000, 0));
        Assert.Equal(TimeSpan.FromMilliseconds(50), b.Delay(1, 0.999999).RoundTo(TimeSpan.FromMilliseconds(1)));
        Assert.Throws<ArgumentOutOfRangeException>(() => b.Delay(0, 0));
        Assert.Throws<ArgumentOutOfRangeException>(() => b.Delay(1, 1));
    }
}

internal static class TimeSpanRounding
{
    public static TimeSpan RoundTo(this TimeSpan value, TimeSpan unit) =>
        TimeSpan.FromTicks((long)Math.Round((double)value.Ticks / unit.Ticks) * unit.Ticks);
}
