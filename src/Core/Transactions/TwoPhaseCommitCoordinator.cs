namespace Granary.Transactions;

/// <summary>Where a two-phase commit coordinator is in the protocol.</summary>
public enum CoordinatorPhase
{
    /// <summary>Created, nothing sent.</summary>
    Init = 0,

    /// <summary>Prepare sent to every participant, collecting votes. Never persisted (presumed abort).</summary>
    Preparing = 1,

    /// <summary>Decision commit is durable; telling participants until each acknowledges.</summary>
    Committing = 2,

    /// <summary>Decision abort is durable; telling participants until each acknowledges.</summary>
    Aborting = 3,

    /// <summary>Every participant acknowledged the decision.</summary>
    Done = 4,
}

/// <summary>The persisted form of a coordinator: only decided coordinators are ever written.</summary>
public sealed record CoordinatorSnapshot(
    string TransactionId,
    string Fingerprint,
    IReadOnlyList<string> Participants,
    CoordinatorPhase Phase,
    TransactionDecision Decision,
    IReadOnlyList<string> Acknowledged,
    string? AbortReason,
    DateTimeOffset? DecidedAt);

/// <summary>
/// The two-phase commit coordinator as a pure state machine (no I/O, time passed in).
/// Init -> Preparing -> (decision Commit or Abort, which the host persists before phase two)
/// -> Committing/Aborting -> Done. Presumed abort: nothing is written before the decision, so a
/// coordinator that loses its memory while preparing aborts, and a coordinator with no record
/// answers <see cref="InquiryAnswer.Unknown"/> (= aborted).
/// </summary>
public sealed class TwoPhaseCommitCoordinator
{
    private readonly Dictionary<string, Vote> _votes = new(StringComparer.Ordinal);
    private readonly HashSet<string> _acknowledged = new(StringComparer.Ordinal);
    private readonly List<string> _participants;

    /// <summary>Creates a coordinator in <see cref="CoordinatorPhase.Init"/>.</summary>
    public TwoPhaseCommitCoordinator(string transactionId, string fingerprint, IEnumerable<string> participants)
    {
        ArgumentException.ThrowIfNullOrEmpty(transactionId);
        ArgumentNullException.ThrowIfNull(fingerprint);
        ArgumentNullException.ThrowIfNull(participants);
        TransactionId = transactionId;
        Fingerprint = fingerprint;
        _participants = [.. participants];
        if (_participants.Count == 0)
        {
            throw new ArgumentException("a transaction needs at least one participant", nameof(participants));
        }

        if (_participants.Distinct(StringComparer.Ordinal).Count() != _participants.Count)
        {
            throw new ArgumentException("participants must be distinct", nameof(participants));
        }
    }

    /// <summary>The transaction.</summary>
    public string TransactionId { get; }

    /// <summary>A digest of the transaction's content: the same id with another content is a different request.</summary>
    public string Fingerprint { get; }

    /// <summary>The participants, in request order.</summary>
    public IReadOnlyList<string> Participants => _participants;

    /// <summary>Current phase.</summary>
    public CoordinatorPhase Phase { get; private set; }

    /// <summary>The decision (None until decided).</summary>
    public TransactionDecision Decision { get; private set; }

    /// <summary>When prepare gives up and aborts.</summary>
    public DateTimeOffset? PrepareDeadline { get; private set; }

    /// <summary>When the decision was taken.</summary>
    public DateTimeOffset? DecidedAt { get; private set; }

    /// <summary>Why it aborted.</summary>
    public string? AbortReason { get; private set; }

    /// <summary>True once decided (the host must persist before sending phase two).</summary>
    public bool IsDecided => Decision != TransactionDecision.None;

    /// <summary>Participants that have not acknowledged the decision yet.</summary>
    public IReadOnlyList<string> Unacknowledged => _participants.Where(p => !_acknowledged.Contains(p)).ToList();

    /// <summary>Votes received so far.</summary>
    public IReadOnlyDictionary<string, Vote> Votes => _votes;

    /// <summary>Rebuilds a coordinator from its persisted snapshot. A snapshot without a decision is aborted (presumed abort).</summary>
    public static TwoPhaseCommitCoordinator Recover(CoordinatorSnapshot snapshot, DateTimeOffset now)
    {
        ArgumentNullException.ThrowIfNull(snapshot);
        var c = new TwoPhaseCommitCoordinator(snapshot.TransactionId, snapshot.Fingerprint, snapshot.Participants);
        foreach (var p in snapshot.Acknowledged)
        {
            if (c._participants.Contains(p, StringComparer.Ordinal))
            {
                c._acknowledged.Add(p);
            }
        }

        c.DecidedAt = snapshot.DecidedAt;
        c.AbortReason = snapshot.AbortReason;
        if (snapshot.Decision == TransactionDecision.None)
        {
            c.Decide(TransactionDecision.Abort, "coordinator restarted before deciding (presumed abort)", now);
        }
        else
        {
            c.Decision = snapshot.Decision;
            c.Phase = snapshot.Phase == CoordinatorPhase.Done || c._acknowledged.Count == c._participants.Count
                ? CoordinatorPhase.Done
                : snapshot.Decision == TransactionDecision.Commit ? CoordinatorPhase.Committing : CoordinatorPhase.Aborting;
        }

        return c;
    }

    /// <summary>Starts phase one; the host sends prepare to every participant.</summary>
    public void BeginPrepare(DateTimeOffset now, TimeSpan timeout)
    {
        if (Phase != CoordinatorPhase.Init)
        {
            throw new InvalidOperationException($"prepare already started (phase {Phase})");
        }

        ArgumentOutOfRangeException.ThrowIfLessThanOrEqual(timeout, TimeSpan.Zero);
        Phase = CoordinatorPhase.Preparing;
        PrepareDeadline = now + timeout;
    }

    /// <summary>
    /// Records a vote. Returns the decision this vote causes (None when still waiting or already
    /// decided). Votes from strangers and duplicate votes change nothing; the first vote of a participant counts.
    /// </summary>
    public TransactionDecision OnVote(string participant, Vote vote, string? reason, DateTimeOffset now)
    {
        if (Phase != CoordinatorPhase.Preparing || !_participants.Contains(participant, StringComparer.Ordinal) || !_votes.TryAdd(participant, vote))
        {
            return TransactionDecision.None;
        }

        if (vote == Vote.No)
        {
            return Decide(TransactionDecision.Abort, reason ?? $"{participant} voted no", now);
        }

        return _votes.Count == _participants.Count && _votes.Values.All(v => v == Vote.Yes)
            ? Decide(TransactionDecision.Commit, null, now)
            : TransactionDecision.None;
    }

    /// <summary>A prepare call failed (error, lost silo): treated as a no vote.</summary>
    public TransactionDecision OnPrepareFailed(string participant, string reason, DateTimeOffset now) =>
        OnVote(participant, Vote.No, $"{participant}: {reason}", now);

    /// <summary>Time passes: aborts when votes are still missing at the deadline.</summary>
    public TransactionDecision OnTick(DateTimeOffset now)
    {
        if (Phase == CoordinatorPhase.Preparing && PrepareDeadline is { } deadline && now >= deadline)
        {
            var missing = _participants.Where(p => !_votes.ContainsKey(p));
            return Decide(TransactionDecision.Abort, "prepare timed out waiting for " + string.Join(", ", missing), now);
        }

        return TransactionDecision.None;
    }

    /// <summary>The host gave up waiting for votes (e.g. lost its state before deciding): abort.</summary>
    public TransactionDecision AbortUndecided(string reason, DateTimeOffset now) =>
        IsDecided ? TransactionDecision.None : Decide(TransactionDecision.Abort, reason, now);

    /// <summary>Records an acknowledgement of the decision; returns true when this made the coordinator Done.</summary>
    public bool OnAcknowledged(string participant)
    {
        if (!IsDecided || Phase == CoordinatorPhase.Done || !_participants.Contains(participant, StringComparer.Ordinal))
        {
            return false;
        }

        _acknowledged.Add(participant);
        if (_acknowledged.Count == _participants.Count)
        {
            Phase = CoordinatorPhase.Done;
            return true;
        }

        return false;
    }

    /// <summary>The answer to a participant's inquiry.</summary>
    public InquiryAnswer Answer() => Decision switch
    {
        TransactionDecision.Commit => InquiryAnswer.Committed,
        TransactionDecision.Abort => InquiryAnswer.Aborted,
        _ => Phase == CoordinatorPhase.Preparing ? InquiryAnswer.Pending : InquiryAnswer.Unknown,
    };

    /// <summary>The persisted form (only meaningful once decided).</summary>
    public CoordinatorSnapshot ToSnapshot() =>
        new(TransactionId, Fingerprint, _participants.ToList(), Phase, Decision, _participants.Where(_acknowledged.Contains).ToList(), AbortReason, DecidedAt);

    private TransactionDecision Decide(TransactionDecision decision, string? reason, DateTimeOffset now)
    {
        Decision = decision;
        AbortReason = decision == TransactionDecision.Abort ? reason : null;
        DecidedAt = now;
        Phase = decision == TransactionDecision.Commit ? CoordinatorPhase.Committing : CoordinatorPhase.Aborting;
        return decision;
    }
}
