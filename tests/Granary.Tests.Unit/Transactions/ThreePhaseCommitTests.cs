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
