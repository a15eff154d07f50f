namespace Granary.Transactions;

/// <summary>A participant's knowledge of one transaction.</summary>
public enum ParticipantStatus
{
    /// <summary>Voted yes; holds a durable reservation; waits for the decision.</summary>
    Prepared = 1,

    /// <summary>Applied.</summary>
    Committed = 2,

    /// <summary>Released (or refused). Remembered so a late prepare or commit is refused.</summary>
    Aborted = 3,

    /// <summary>Three-phase commit only: every participant voted yes and the coordinator said pre-commit; commits on timeout.</summary>
    PreCommitted = 4,
}

/// <summary>One transaction as a participant remembers it.</summary>
/// <param name="TransactionId">Transaction id.</param>
/// <param name="Fingerprint">Content digest.</param>
/// <param name="Status">Where it is.</param>
/// <param name="Since">When it entered <paramref name="Status"/>.</param>
/// <param name="LastInquiry">When the coordinator (2PC) or the peers (3PC) were last asked.</param>
/// <param name="ThreePhaseTimeout">Null for two-phase commit; for three-phase commit, how long the participant waits in a state before deciding alone.</param>
public sealed record ParticipantEntry(
    string TransactionId,
    string Fingerprint,
    ParticipantStatus Status,
    DateTimeOffset Since,
    DateTimeOffset? LastInquiry,
    TimeSpan? ThreePhaseTimeout = null)
{
    /// <summary>True while the entry holds a reservation (prepared, or pre-committed in 3PC).</summary>
    public bool IsOpen => Status is ParticipantStatus.Prepared or ParticipantStatus.PreCommitted;

    /// <summary>True for a three-phase commit transaction.</summary>
    public bool IsThreePhase => ThreePhaseTimeout is not null;
}

/// <summary>What the participant must do with a prepare request.</summary>
public enum PrepareVerdict
{
    /// <summary>First time: validate and reserve, then <see cref="ParticipantLedger.RecordPrepared"/> (vote yes) or <see cref="ParticipantLedger.RecordRefused"/> (vote no).</summary>
    Reserve = 1,

    /// <summary>Duplicate of a prepare already granted: vote yes again, reserve nothing.</summary>
    AlreadyPrepared = 2,

    /// <summary>Reordered: the transaction already committed here; vote yes, change nothing.</summary>
    AlreadyCommitted = 3,

    /// <summary>The transaction aborted here (late prepare after abort, or refused before): vote no.</summary>
    AlreadyAborted = 4,

    /// <summary>Same transaction id with another content: a typed error, nothing changes.</summary>
    Conflict = 5,
}

/// <summary>What the participant must do with a commit.</summary>
public enum CommitVerdict
{
    /// <summary>Apply the reservation (the ledger already says Committed).</summary>
    Apply = 1,

    /// <summary>Duplicate: already applied; acknowledge.</summary>
    AlreadyCommitted = 2,

    /// <summary>Never prepared here: refuse (a commit needs a yes vote first).</summary>
    RefusedUnknown = 3,

    /// <summary>Aborted here already (e.g. after asking a coordinator that had no record): refuse.</summary>
    RefusedAborted = 4,
}

/// <summary>What the participant must do with an abort.</summary>
public enum AbortVerdict
{
    /// <summary>Release the reservation (the ledger already says Aborted).</summary>
    Release = 1,

    /// <summary>Duplicate: already aborted; acknowledge.</summary>
    AlreadyAborted = 2,

    /// <summary>Abort before prepare (reordered): remembered, so the late prepare votes no.</summary>
    RecordedUnknown = 3,

    /// <summary>Already committed: a protocol violation; refuse loudly.</summary>
    RefusedCommitted = 4,
}

/// <summary>What a three-phase commit participant must do with a pre-commit.</summary>
public enum PreCommitVerdict
{
    /// <summary>Uncertain -> pre-committed (the ledger already says so): persist, acknowledge.</summary>
    Apply = 1,

    /// <summary>Duplicate: acknowledge.</summary>
    AlreadyPreCommitted = 2,

    /// <summary>Already committed (e.g. on its own timeout): acknowledge.</summary>
    AlreadyCommitted = 3,

    /// <summary>Never voted here: refuse.</summary>
    RefusedUnknown = 4,

    /// <summary>Aborted here (e.g. terminated on its own): refuse, the coordinator must not commit.</summary>
    RefusedAborted = 5,

    /// <summary>A two-phase commit transaction has no pre-commit: refuse.</summary>
    RefusedTwoPhase = 6,
}

/// <summary>
/// The participant side of two-phase commit as a pure state machine: Idle -> Prepared(reservation)
/// -> Committed | Aborted, idempotent under duplicated and reordered messages. The host keeps the
/// reservation itself next to the ledger and persists both before answering.
/// </summary>
public sealed class ParticipantLedger
{
    private readonly Dictionary<string, ParticipantEntry> _entries = new(StringComparer.Ordinal);

    /// <summary>Creates an empty ledger or restores one.</summary>
    public ParticipantLedger(IEnumerable<ParticipantEntry>? entries = null)
    {
        foreach (var e in entries ?? [])
        {
            _entries[e.TransactionId] = e;
        }
    }

    /// <summary>Every remembered transaction.</summary>
    public IReadOnlyCollection<ParticipantEntry> Entries => _entries.Values;

    /// <summary>Transactions prepared (or pre-committed) and not yet decided here: each holds a reservation.</summary>
    public IEnumerable<ParticipantEntry> Prepared => _entries.Values.Where(e => e.IsOpen);

    /// <summary>The entry for a transaction, or null.</summary>
    public ParticipantEntry? Find(string transactionId) => _entries.GetValueOrDefault(transactionId);

    /// <summary>Classifies a prepare.</summary>
    public PrepareVerdict CheckPrepare(string transactionId, string fingerprint)
    {
        if (!_entries.TryGetValue(transactionId, out var e))
        {
            return PrepareVerdict.Reserve;
        }

        if (e.Status == ParticipantStatus.Aborted)
        {
            // An abort recorded before any prepare carries no fingerprint to compare.
            return PrepareVerdict.AlreadyAborted;
        }

        if (!string.Equals(e.Fingerprint, fingerprint, StringComparison.Ordinal))
        {
            return PrepareVerdict.Conflict;
        }

        return e.IsOpen ? PrepareVerdict.AlreadyPrepared : PrepareVerdict.AlreadyCommitted;
    }

    /// <summary>Records a yes vote (after the reservation was made); <paramref name="threePhaseTimeout"/> makes it a 3PC entry.</summary>
    public void RecordPrepared(string transactionId, string fingerprint, DateTimeOffset now, TimeSpan? threePhaseTimeout = null)
    {
        if (_entries.ContainsKey(transactionId))
        {
            throw new InvalidOperationException($"{transactionId} is already known here");
        }

        _entries[transactionId] = new ParticipantEntry(transactionId, fingerprint, ParticipantStatus.Prepared, now, null, threePhaseTimeout);
    }

    /// <summary>Three-phase commit: classifies and applies a pre-commit (uncertain -> pre-committed; its timeout restarts).</summary>
    public PreCommitVerdict PreCommit(string transactionId, DateTimeOffset now)
    {
        if (!_entries.TryGetValue(transactionId, out var e))
        {
            return PreCommitVerdict.RefusedUnknown;
        }

        switch (e.Status)
        {
            case ParticipantStatus.PreCommitted:
                return PreCommitVerdict.AlreadyPreCommitted;
            case ParticipantStatus.Committed:
                return PreCommitVerdict.AlreadyCommitted;
            case ParticipantStatus.Aborted:
                return PreCommitVerdict.RefusedAborted;
            default:
                if (!e.IsThreePhase)
                {
                    return PreCommitVerdict.RefusedTwoPhase;
                }

                _entries[transactionId] = e with { Status = ParticipantStatus.PreCommitted, Since = now, LastInquiry = null };
                return PreCommitVerdict.Apply;
        }
    }

    /// <summary>
    /// Three-phase commit entries whose state has lasted their timeout (and, when the peers were asked
    /// already, a quarter of it since): the participant must decide on its own (<see cref="ThreePhaseTermination"/>).
    /// </summary>
    public IReadOnlyList<ParticipantEntry> DueForTermination(DateTimeOffset now) =>
        _entries.Values
            .Where(e => e.IsOpen && e.ThreePhaseTimeout is { } t && now - e.Since >= t && (e.LastInquiry is null || now - e.LastInquiry.Value >= t / 4))
            .OrderBy(e => e.Since)
            .ToList();

    /// <summary>Records a no vote: the participant aborts on its own and remembers it.</summary>
    public void RecordRefused(string transactionId, string fingerprint, DateTimeOffset now) =>
        _entries[transactionId] = new ParticipantEntry(transactionId, fingerprint, ParticipantStatus.Aborted, now, null);

    /// <summary>Classifies and applies a commit.</summary>
    public CommitVerdict Commit(string transactionId, DateTimeOffset now)
    {
        if (!_entries.TryGetValue(transactionId, out var e))
        {
            return CommitVerdict.RefusedUnknown;
        }

        switch (e.Status)
        {
            case ParticipantStatus.Committed:
                return CommitVerdict.AlreadyCommitted;
            case ParticipantStatus.Aborted:
                return CommitVerdict.RefusedAborted;
            default:
                _entries[transactionId] = e with { Status = ParticipantStatus.Committed, Since = now };
                return CommitVerdict.Apply;
        }
    }

    /// <summary>Classifies and applies an abort.</summary>
    public AbortVerdict Abort(string transactionId, DateTimeOffset now)
    {
        if (!_entries.TryGetValue(transactionId, out var e))
        {
            _entries[transactionId] = new ParticipantEntry(transactionId, string.Empty, ParticipantStatus.Aborted, now, null);
            return AbortVerdict.RecordedUnknown;
        }

        switch (e.Status)
        {
            case ParticipantStatus.Aborted:
                return AbortVerdict.AlreadyAborted;
            case ParticipantStatus.Committed:
                return AbortVerdict.RefusedCommitted;
            default:
                _entries[transactionId] = e with { Status = ParticipantStatus.Aborted, Since = now };
                return AbortVerdict.Release;
        }
    }

    /// <summary>Forgets a transaction that was never prepared (e.g. an abort recorded by a participant that does not exist).</summary>
    public bool Forget(string transactionId) =>
        _entries.TryGetValue(transactionId, out var e) && !e.IsOpen && _entries.Remove(transactionId);

    /// <summary>
    /// Prepared transactions that have waited at least <paramref name="preparedTimeout"/> and were not
    /// asked about within <paramref name="inquiryInterval"/>: the participant should ask their coordinator.
    /// </summary>
    public IReadOnlyList<string> DueForInquiry(DateTimeOffset now, TimeSpan preparedTimeout, TimeSpan inquiryInterval) =>
        Prepared
            .Where(e => !e.IsThreePhase && now - e.Since >= preparedTimeout && (e.LastInquiry is null || now - e.LastInquiry.Value >= inquiryInterval))
            .OrderBy(e => e.Since)
            .Select(e => e.TransactionId)
            .ToList();

    /// <summary>Notes that the coordinator was asked.</summary>
    public void MarkInquired(string transactionId, DateTimeOffset now)
    {
        if (_entries.TryGetValue(transactionId, out var e) && e.IsOpen)
        {
            _entries[transactionId] = e with { LastInquiry = now };
        }
    }

    /// <summary>
    /// Forgets finished transactions older than <paramref name="retention"/>, and the oldest beyond
    /// <paramref name="maxFinished"/> among those older than <paramref name="keepAtLeast"/> (younger
    /// ones are kept whatever their number: a late duplicate prepare must still find them) and not
    /// <paramref name="exempt"/> from the count (those stay for the whole retention). Prepared ones
    /// are never forgotten. Returns how many were dropped.
    /// </summary>
    public int Prune(DateTimeOffset now, TimeSpan retention, int maxFinished, TimeSpan keepAtLeast = default, Func<ParticipantEntry, bool>? exempt = null)
    {
        // Runs before every write of the participant. Only entries past the retention or the floor can
        // go, and under load those are the few that crossed the floor since the last write: only they
        // are sorted (in the order of the whole set: by time, ties in the ledger's order).
        var finished = 0;
        List<ParticipantEntry>? old = null;
        foreach (var e in _entries.Values)
        {
            if (e.IsOpen)
            {
                continue;
            }

            finished++;
            if (now - e.Since > retention || now - e.Since > keepAtLeast)
            {
                (old ??= []).Add(e);
            }
        }

        if (old is null)
        {
            return 0;
        }

        var ordered = old.OrderBy(e => e.Since).ToList();
        var dropped = 0;
        foreach (var e in ordered)
        {
            if (now - e.Since > retention)
            {
                _entries.Remove(e.TransactionId);
                dropped++;
            }
        }

        var excess = finished - dropped - maxFinished;
        foreach (var e in ordered)
        {
            if (excess <= 0)
            {
                break;
            }

            if (now - e.Since <= retention && now - e.Since > keepAtLeast && exempt?.Invoke(e) != true)
            {
                _entries.Remove(e.TransactionId);
                dropped++;
                excess--;
            }
        }

        return dropped;
    }
}
