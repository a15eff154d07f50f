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
}

/// <summary>One transaction as a participant remembers it.</summary>
public sealed record ParticipantEntry(
    string TransactionId,
    string Fingerprint,
    ParticipantStatus Status,
    DateTimeOffset Since,
    DateTimeOffset? LastInquiry);

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

    /// <summary>Transactions prepared and not yet decided here.</summary>
    public IEnumerable<ParticipantEntry> Prepared => _entries.Values.Where(e => e.Status == ParticipantStatus.Prepared);

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

        return e.Status == ParticipantStatus.Prepared ? PrepareVerdict.AlreadyPrepared : PrepareVerdict.AlreadyCommitted;
    }

    /// <summary>Records a yes vote (after the reservation was made).</summary>
    public void RecordPrepared(string transactionId, string fingerprint, DateTimeOffset now)
    {
        if (_entries.ContainsKey(transactionId))
        {
            throw new InvalidOperationException($"{transactionId} is already known here");
        }

        _entries[transactionId] = new ParticipantEntry(transactionId, fingerprint, ParticipantStatus.Prepared, now, null);
    }

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
        _entries.TryGetValue(transactionId, out var e) && e.Status != ParticipantStatus.Prepared && _entries.Remove(transactionId);

    /// <summary>
    /// Prepared transactions that have waited at least <paramref name="preparedTimeout"/> and were not
    /// asked about within <paramref name="inquiryInterval"/>: the participant should ask their coordinator.
    /// </summary>
    public IReadOnlyList<string> DueForInquiry(DateTimeOffset now, TimeSpan preparedTimeout, TimeSpan inquiryInterval) =>
        Prepared
            .Where(e => now - e.Since >= preparedTimeout && (e.LastInquiry is null || now - e.LastInquiry.Value >= inquiryInterval))
            .OrderBy(e => e.Since)
            .Select(e => e.TransactionId)
            .ToList();

    /// <summary>Notes that the coordinator was asked.</summary>
    public void MarkInquired(string transactionId, DateTimeOffset now)
    {
        if (_entries.TryGetValue(transactionId, out var e) && e.Status == ParticipantStatus.Prepared)
        {
            _entries[transactionId] = e with { LastInquiry = now };
        }
    }

    /// <summary>
    /// Forgets finished transactions older than <paramref name="retention"/>, and the oldest beyond
    /// <paramref name="maxFinished"/>. Prepared ones are never forgotten. Returns how many were dropped.
    /// </summary>
    public int Prune(DateTimeOffset now, TimeSpan retention, int maxFinished)
    {
        var finished = _entries.Values.Where(e => e.Status != ParticipantStatus.Prepared).OrderBy(e => e.Since).ToList();
        var drop = finished.Where(e => now - e.Since > retention).Select(e => e.TransactionId).ToHashSet(StringComparer.Ordinal);
        var excess = finished.Count - drop.Count - maxFinished;
        foreach (var e in finished.Where(e => !drop.Contains(e.TransactionId)).Take(Math.Max(0, excess)))
        {
            drop.Add(e.TransactionId);
        }

        foreach (var id in drop)
        {
            _entries.Remove(id);
        }

        return drop.Count;
    }
}
