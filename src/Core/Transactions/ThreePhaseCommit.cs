namespace Granary.Transactions;

/// <summary>
/// Three-phase commit (Skeen), pure. Assumptions it rests on, and which it does not survive when broken:
/// (1) delays are bounded: a message not seen within the timeout means the sender failed;
/// (2) no network partitions: a node that times out is really down, not just cut off;
/// (3) failures are crash-stop. Under these assumptions no operational participant ever blocks:
/// an uncertain participant aborts on timeout and a pre-committed one commits on timeout, because
/// the coordinator only sends pre-commit after every participant voted yes. Under a partition the
/// same timeout rules let one side commit while the other aborts.
/// </summary>
public enum ThreePhaseState
{
    /// <summary>Nothing sent or received.</summary>
    Initial = 0,

    /// <summary>Coordinator: can-commit sent. Participant: voted yes, uncertain.</summary>
    Waiting = 1,

    /// <summary>Pre-commit sent (coordinator) or received and acknowledged (participant).</summary>
    PreCommitted = 2,

    /// <summary>Committed.</summary>
    Committed = 3,

    /// <summary>Aborted.</summary>
    Aborted = 4,
}

/// <summary>The 3PC coordinator: can-commit, pre-commit, do-commit, each phase with a timeout.</summary>
public sealed class ThreePhaseCommitCoordinator
{
    private readonly HashSet<string> _yes = new(StringComparer.Ordinal);
    private readonly HashSet<string> _acks = new(StringComparer.Ordinal);

    /// <summary>Creates the coordinator.</summary>
    public ThreePhaseCommitCoordinator(IEnumerable<string> participants, TimeSpan timeout)
    {
        ArgumentNullException.ThrowIfNull(participants);
        Participants = [.. participants.Distinct(StringComparer.Ordinal)];
        ArgumentOutOfRangeException.ThrowIfZero(Participants.Count);
        Timeout = timeout;
    }

    /// <summary>Participants.</summary>
    public IReadOnlyList<string> Participants { get; }

    /// <summary>Per-phase timeout.</summary>
    public TimeSpan Timeout { get; }

    /// <summary>State.</summary>
    public ThreePhaseState State { get; private set; }

    /// <summary>When the current phase times out.</summary>
    public DateTimeOffset? Deadline { get; private set; }

    /// <summary>Phase 1: send can-commit to everyone.</summary>
    public void Start(DateTimeOffset now)
    {
        if (State != ThreePhaseState.Initial)
        {
            throw new InvalidOperationException("already started");
        }

        State = ThreePhaseState.Waiting;
        Deadline = now + Timeout;
    }

    /// <summary>A vote arrived. Returns the new state (PreCommitted: send pre-commit; Aborted: send abort).</summary>
    public ThreePhaseState OnVote(string participant, Vote vote, DateTimeOffset now)
    {
        if (State != ThreePhaseState.Waiting || !Participants.Contains(participant, StringComparer.Ordinal))
        {
            return State;
        }

        if (vote == Vote.No)
        {
            return Finish(ThreePhaseState.Aborted);
        }

        _yes.Add(participant);
        if (_yes.Count == Participants.Count)
        {
            State = ThreePhaseState.PreCommitted;
            Deadline = now + Timeout;
        }

        return State;
    }

    /// <summary>A pre-commit acknowledgement arrived. Returns Committed (send do-commit) once all acked.</summary>
    public ThreePhaseState OnPreCommitAck(string participant)
    {
        if (State != ThreePhaseState.PreCommitted || !Participants.Contains(participant, StringComparer.Ordinal))
        {
            return State;
        }

        _acks.Add(participant);
        return _acks.Count == Participants.Count ? Finish(ThreePhaseState.Committed) : State;
    }

    /// <summary>
    /// Time passes. Waiting for votes past the deadline: abort. Waiting for pre-commit acks past the
    /// deadline: commit anyway (everyone voted yes; a silent participant is presumed crashed and will
    /// learn the outcome on recovery).
    /// </summary>
    public ThreePhaseState OnTick(DateTimeOffset now)
    {
        if (Deadline is not { } d || now < d)
        {
            return State;
        }

        return State switch
        {
            ThreePhaseState.Waiting => Finish(ThreePhaseState.Aborted),
            ThreePhaseState.PreCommitted => Finish(ThreePhaseState.Committed),
            _ => State,
        };
    }

    private ThreePhaseState Finish(ThreePhaseState state)
    {
        State = state;
        Deadline = null;
        return state;
    }
}

/// <summary>The 3PC participant with its timeout rules (the part that makes 3PC non-blocking).</summary>
public sealed class ThreePhaseCommitParticipant(string name, TimeSpan timeout)
{
    /// <summary>Name.</summary>
    public string Name { get; } = name;

    /// <summary>State.</summary>
    public ThreePhaseState State { get; private set; }

    /// <summary>When the current state times out.</summary>
    public DateTimeOffset? Deadline { get; private set; }

    /// <summary>Marks the participant as waiting for can-commit (it knows a transaction is coming).</summary>
    public void Expect(DateTimeOffset now) => Deadline = now + timeout;

    /// <summary>Can-commit: vote; a yes makes the participant uncertain (Waiting).</summary>
    public Vote OnCanCommit(bool willing, DateTimeOffset now)
    {
        if (State != ThreePhaseState.Initial)
        {
            return State is ThreePhaseState.Aborted ? Vote.No : Vote.Yes;
        }

        if (!willing)
        {
            State = ThreePhaseState.Aborted;
            Deadline = null;
            return Vote.No;
        }

        State = ThreePhaseState.Waiting;
        Deadline = now + timeout;
        return Vote.Yes;
    }

    /// <summary>Pre-commit: acknowledge and wait for do-commit.</summary>
    public bool OnPreCommit(DateTimeOffset now)
    {
        if (State is ThreePhaseState.Waiting or ThreePhaseState.PreCommitted)
        {
            State = ThreePhaseState.PreCommitted;
            Deadline = now + timeout;
            return true;
        }

        return false;
    }

    /// <summary>Do-commit.</summary>
    public void OnDoCommit()
    {
        if (State != ThreePhaseState.Aborted)
        {
            State = ThreePhaseState.Committed;
            Deadline = null;
        }
    }

    /// <summary>Abort.</summary>
    public void OnAbort()
    {
        if (State != ThreePhaseState.Committed)
        {
            State = ThreePhaseState.Aborted;
            Deadline = null;
        }
    }

    /// <summary>
    /// Time passes with no message: Initial or uncertain (Waiting) -> abort, PreCommitted -> commit
    /// (pre-commit means everyone voted yes). Safe only under the assumptions on <see cref="ThreePhaseState"/>:
    /// with a partition, a cut-off uncertain participant aborts while pre-committed ones commit.
    /// </summary>
    public ThreePhaseState OnTick(DateTimeOffset now)
    {
        if (Deadline is not { } d || now < d)
        {
            return State;
        }

        State = State switch
        {
            ThreePhaseState.Initial or ThreePhaseState.Waiting => ThreePhaseState.Aborted,
            ThreePhaseState.PreCommitted => ThreePhaseState.Committed,
            _ => State,
        };
        Deadline = null;
        return State;
    }
}

/// <summary>What a three-phase commit participant whose timeout expired does.</summary>
public enum TerminationDecision
{
    /// <summary>Not enough known yet (a peer did not answer and the participant has not waited a second timeout): ask again later.</summary>
    Wait = 0,

    /// <summary>Commit on its own.</summary>
    Commit = 1,

    /// <summary>Abort on its own.</summary>
    Abort = 2,
}

/// <summary>
/// The termination rule of a three-phase commit participant that heard nothing from its coordinator
/// for its timeout (Skeen's termination protocol, run by the participant that timed out):
/// <list type="bullet">
/// <item>pre-committed: commit (pre-commit is only sent after every participant voted yes);</item>
/// <item>uncertain (voted yes): ask the other participants. Any committed or pre-committed: commit
/// (everyone voted yes). Any aborted, or one that never voted: abort (the coordinator cannot have
/// sent pre-commit). All uncertain: abort (the coordinator died before any pre-commit). A peer that
/// does not answer is presumed crashed once the participant has waited a second timeout.</item>
/// </list>
/// This is correct only under 3PC's assumptions: message delays bounded well below the timeout (so no
/// pre-commit is still in flight when the timeout fires) and no network partitions (so a silent peer
/// really is down). Under a partition an uncertain participant that cannot reach a pre-committed one
/// aborts while that one commits: the outcome splits.
/// </summary>
public static class ThreePhaseTermination
{
    /// <summary>Decides. <paramref name="peers"/>: each reachable peer's status (null = it has no record); <paramref name="unreachable"/>: peers that did not answer.</summary>
    public static TerminationDecision Decide(ParticipantStatus self, IReadOnlyCollection<ParticipantStatus?> peers, int unreachable, bool presumeUnreachableCrashed)
    {
        ArgumentNullException.ThrowIfNull(peers);
        switch (self)
        {
            case ParticipantStatus.PreCommitted:
                return TerminationDecision.Commit;
            case ParticipantStatus.Prepared:
                break;
            default:
                throw new ArgumentOutOfRangeException(nameof(self), self, "only an open (prepared or pre-committed) participant terminates");
        }

        if (peers.Any(p => p is ParticipantStatus.Committed))
        {
            return TerminationDecision.Commit;
        }

        if (peers.Any(p => p is null or ParticipantStatus.Aborted))
        {
            return TerminationDecision.Abort;
        }

        if (peers.Any(p => p is ParticipantStatus.PreCommitted))
        {
            return TerminationDecision.Commit;
        }

        return unreachable > 0 && !presumeUnreachableCrashed ? TerminationDecision.Wait : TerminationDecision.Abort;
    }
}
