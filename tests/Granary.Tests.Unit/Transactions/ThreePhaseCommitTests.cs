using Granary.Transactions;
using Microsoft.Extensions.Time.Testing;

namespace Granary.Tests.Unit.Transactions;

public sealed class ThreePhaseCommitTests
{
    private static readonly TimeSpan Timeout = TimeSpan.FromSeconds(2);
    private readonly FakeTimeProvider _time = new(new DateTimeOffset(2026, 1, 1, 0, 0, 0, TimeSpan.Zero));

    private DateTimeOffset Now => _time.GetUtcNow();

    [Fact]
    public void All_yes_goes_through_pre_commit_to_commit()
    {
        var c = new ThreePhaseCommitCoordinator(["a", "b"], Timeout);
        c.Start(Now);
        Assert.Equal(ThreePhaseState.Waiting, c.OnVote("a", Vote.Yes, Now));
        Assert.Equal(ThreePhaseState.PreCommitted, c.OnVote("b", Vote.Yes, Now));
        Assert.Equal(ThreePhaseState.PreCommitted, c.OnPreCommitAck("a"));
        Assert.Equal(ThreePhaseState.Committed, c.OnPreCommitAck("b"));
    }

    [Theory]
    [InlineData(true, ThreePhaseState.Aborted)] // a no vote
    [InlineData(false, ThreePhaseState.Aborted)] // a missing vote
    public void Phase_one_aborts_on_no_or_timeout(bool explicitNo, ThreePhaseState expected)
    {
        var c = new ThreePhaseCommitCoordinator(["a", "b"], Timeout);
        c.Start(Now);
        c.OnVote("a", Vote.Yes, Now);
        if (explicitNo)
        {
            Assert.Equal(expected, c.OnVote("b", Vote.No, Now));
        }
        else
        {
            _time.Advance(Timeout);
            Assert.Equal(expected, c.OnTick(Now));
        }
    }

    [Fact]
    public void Missing_pre_commit_acks_still_commit_after_the_timeout()
    {
        var c = new ThreePhaseCommitCoordinator(["a", "b"], Timeout);
        c.Start(Now);
        c.OnVote("a", Vote.Yes, Now);
        c.OnVote("b", Vote.Yes, Now);
        c.OnPreCommitAck("a");
        _time.Advance(Timeout);
        Assert.Equal(ThreePhaseState.Committed, c.OnTick(Now));
    }

    [Fact]
    public void Participants_do_not_block_when_the_coordinator_dies_uncertain_aborts_precommitted_commits()
    {
        var a = new ThreePhaseCommitParticipant("a", Timeout);
        var b = new ThreePhaseCommitParticipant("b", Timeout);
        Assert.Equal(Vote.Yes, a.OnCanCommit(true, Now));
        Assert.Equal(Vote.Yes, b.OnCanCommit(true, Now));
        Assert.True(a.OnPreCommit(Now));

        // Coordinator crashes now; b never got pre-commit (assumption broken: partition, not crash).
        _time.Advance(Timeout);
        Assert.Equal(ThreePhaseState.Committed, a.OnTick(Now));
        Assert.Equal(ThreePhaseState.Aborted, b.OnTick(Now));
    }

    [Fact]
    public void Participant_messages_are_idempotent_and_terminal_states_stick()
    {
        var p = new ThreePhaseCommitParticipant("p", Timeout);
        Assert.Equal(Vote.No, p.OnCanCommit(false, Now));
        Assert.Equal(Vote.No, p.OnCanCommit(true, Now));
        Assert.False(p.OnPreCommit(Now));
        p.OnDoCommit();
        Assert.Equal(ThreePhaseState.Aborted, p.State);

        var q = new ThreePhaseCommitParticipant("q", Timeout);
        q.OnCanCommit(true, Now);
        q.OnPreCommit(Now);
        q.OnDoCommit();
        q.OnAbort();
        Assert.Equal(ThreePhaseState.Committed, q.State);
    }

    [Fact]
    public void A_participant_waiting_for_can_commit_aborts_on_timeout()
    {
        var p = new ThreePhaseCommitParticipant("p", Timeout);
        p.Expect(Now);
        _time.Advance(Timeout);
        Assert.Equal(ThreePhaseState.Aborted, p.OnTick(Now));
    }
}

public sealed class ThreePhaseParticipantLedgerTests
{
    private static readonly TimeSpan Timeout = TimeSpan.FromSeconds(2);
    private readonly FakeTimeProvider _time = new(new DateTimeOffset(2026, 1, 1, 0, 0, 0, TimeSpan.Zero));
    private readonly ParticipantLedger _ledger = new();

    private DateTimeOffset Now => _time.GetUtcNow();

    [Fact]
    public void Pre_commit_moves_uncertain_to_pre_committed_and_restarts_the_timeout()
    {
        _ledger.RecordPrepared("t", "fp", Now, Timeout);
        _time.Advance(Timeout / 2);
        Assert.Equal(PreCommitVerdict.Apply, _ledger.PreCommit("t", Now));
        Assert.Equal(PreCommitVerdict.AlreadyPreCommitted, _ledger.PreCommit("t", Now));
        Assert.Equal(PrepareVerdict.AlreadyPrepared, _ledger.CheckPrepare("t", "fp"));
        _time.Advance(Timeout - TimeSpan.FromMilliseconds(1));
        Assert.Empty(_ledger.DueForTermination(Now));
        _time.Advance(TimeSpan.FromMilliseconds(1));
        Assert.Equal(ParticipantStatus.PreCommitted, Assert.Single(_ledger.DueForTermination(Now)).Status);
        Assert.Equal(CommitVerdict.Apply, _ledger.Commit("t", Now));
        Assert.Equal(PreCommitVerdict.AlreadyCommitted, _ledger.PreCommit("t", Now));
    }

    [Fact]
    public void Pre_commit_is_refused_for_unknown_aborted_and_two_phase_transactions()
    {
        Assert.Equal(PreCommitVerdict.RefusedUnknown, _ledger.PreCommit("none", Now));
        _ledger.RecordPrepared("a", "fp", Now, Timeout);
        _ledger.Abort("a", Now);
        Assert.Equal(PreCommitVerdict.RefusedAborted, _ledger.PreCommit("a", Now));
        _ledger.RecordPrepared("2pc", "fp", Now);
        Assert.Equal(PreCommitVerdict.RefusedTwoPhase, _ledger.PreCommit("2pc", Now));
    }

    [Fact]
    public void Three_phase_entries_are_not_inquired_with_a_2pc_coordinator_and_are_not_pruned_while_open()
    {
        _ledger.RecordPrepared("t3", "fp", Now, Timeout);
        _ledger.PreCommit("t3", Now);
        _ledger.RecordPrepared("t2", "fp", Now);
        _time.Advance(TimeSpan.FromMinutes(1));
        Assert.Equal(["t2"], _ledger.DueForInquiry(Now, Timeout, Timeout));
        Assert.Equal(0, _ledger.Prune(Now, TimeSpan.Zero, 0));
        Assert.Equal(2, _ledger.Prepared.Count());
    }

    [Fact]
    public void A_peer_asked_is_not_asked_again_before_a_quarter_of_the_timeout()
    {
        _ledger.RecordPrepared("t", "fp", Now, Timeout);
        _time.Advance(Timeout);
        Assert.Single(_ledger.DueForTermination(Now));
        _ledger.MarkInquired("t", Now);
        Assert.Empty(_ledger.DueForTermination(Now));
        _time.Advance(Timeout / 4);
        Assert.Single(_ledger.DueForTermination(Now));
    }

    [Theory]
    [InlineData(ParticipantStatus.PreCommitted, new[] { "Prepared" }, 0, false, TerminationDecision.Commit)]
    [InlineData(ParticipantStatus.PreCommitted, new string[0], 2, false, TerminationDecision.Commit)]
    [InlineData(ParticipantStatus.Prepared, new[] { "Prepared", "Prepared" }, 0, false, TerminationDecision.Abort)]
    [InlineData(ParticipantStatus.Prepared, new[] { "Prepared", "PreCommitted" }, 0, false, TerminationDecision.Commit)]
    [InlineData(ParticipantStatus.Prepared, new[] { "Committed" }, 1, false, TerminationDecision.Commit)]
    [InlineData(ParticipantStatus.Prepared, new[] { "Aborted", "Prepared" }, 0, false, TerminationDecision.Abort)]
    [InlineData(ParticipantStatus.Prepared, new[] { "none" }, 0, false, TerminationDecision.Abort)]
    [InlineData(ParticipantStatus.Prepared, new[] { "Prepared" }, 1, false, TerminationDecision.Wait)]
    [InlineData(ParticipantStatus.Prepared, new[] { "Prepared" }, 1, true, TerminationDecision.Abort)]
    [InlineData(ParticipantStatus.Prepared, new[] { "PreCommitted" }, 1, false, TerminationDecision.Commit)]
    public void Termination_rule(ParticipantStatus self, string[] peers, int unreachable, bool presumeCrashed, TerminationDecision expected)
    {
        var statuses = peers.Select(p => p == "none" ? (ParticipantStatus?)null : Enum.Parse<ParticipantStatus>(p)).ToList();
        Assert.Equal(expected, ThreePhaseTermination.Decide(self, statuses, unreachable, presumeCrashed));
    }
}
