namespace Granary.Transactions;

/// <summary>What the host must do with storage before it answers a protocol message.</summary>
public enum ParticipantWrite
{
    /// <summary>Nothing changed and the answer rests on nothing pending: answer now.</summary>
    None = 0,

    /// <summary>Nothing changed, but the answer rests on earlier changes: answer once they are durable.</summary>
    Durable = 1,

    /// <summary>The state changed: answer once a write holding the change is durable.</summary>
    Persist = 2,

    /// <summary>An outcome (commit or abort) changed the state: it may be written with a later write, since it is durable at its coordinator already.</summary>
    PersistOutcome = 3,
}

/// <summary>The answer to a prepare (or three-phase can-commit).</summary>
public enum PrepareResult
{
    /// <summary>Voted yes (first time, or a duplicate of a yes, or the transaction committed here already).</summary>
    Granted = 1,

    /// <summary>The transaction aborted here already: vote no.</summary>
    AlreadyAborted = 2,

    /// <summary>The prepare arrived after its coordinator stopped waiting: vote no, reserve nothing.</summary>
    Late = 3,

    /// <summary>The participant does not exist: vote no, store nothing.</summary>
    Missing = 4,

    /// <summary>The resource cannot take the operation: vote no (remembered).</summary>
    Refused = 5,

    /// <summary>The same transaction id with another content: a typed error, nothing changes.</summary>
    Conflict = 6,
}

/// <summary>What a resource says about reserving an operation.</summary>
/// <param name="Yes">It can.</param>
/// <param name="Code">Machine-readable cause of a no.</param>
/// <param name="Reason">Why not.</param>
public sealed record ReserveCheck(bool Yes, string? Code = null, string? Reason = null)
{
    /// <summary>It can.</summary>
    public static ReserveCheck Granted { get; } = new(true);
}

/// <summary>A prepare's answer and what to write first.</summary>
/// <param name="Result">The answer.</param>
/// <param name="Write">What the host must do before it answers.</param>
/// <param name="Known">For a repeated prepare, where the transaction already is here.</param>
/// <param name="Check">For <see cref="PrepareResult.Refused"/>, the resource's reason; for <see cref="PrepareResult.Missing"/>, why it does not exist.</param>
public sealed record PrepareStep(PrepareResult Result, ParticipantWrite Write, ParticipantStatus? Known = null, ReserveCheck? Check = null);

/// <summary>A commit, abort or pre-commit: what to write first, or why the message is refused (a protocol error).</summary>
/// <param name="Write">What the host must do before it answers.</param>
/// <param name="Refusal">Null when accepted.</param>
public sealed record ParticipantStep(ParticipantWrite Write, string? Refusal = null);

/// <summary>The resource a participant guards: what exists, what can be reserved, how an operation is applied.</summary>
/// <typeparam name="TOperation">The operations it takes.</typeparam>
public interface IParticipantResource<in TOperation>
{
    /// <summary>How messages name it (e.g. <c>account 'a'</c>).</summary>
    string Describe { get; }

    /// <summary>Null when it exists, else why not.</summary>
    string? Missing();

    /// <summary>Whether the operation can be reserved on top of the existing reservations.</summary>
    ReserveCheck CanReserve(TOperation operation);

    /// <summary>Applies a committed operation.</summary>
    void Apply(TOperation operation);

    /// <summary>A transaction committed or aborted here.</summary>
    void OnResolved(string transactionId, ParticipantStatus status);
}

/// <summary>
/// The participant side of two- and three-phase commit over <see cref="ParticipantLedger"/> and the
/// reservations it holds: classifies every message, changes the ledger, the reservations and the
/// resource together (no await between check and change), and says what the host must write before
/// answering. Pure: no I/O, time passed in; the host persists and answers.
/// </summary>
/// <typeparam name="TOperation">The operations reserved.</typeparam>
/// <param name="ledger">The transactions remembered.</param>
/// <param name="reservations">Reservation per prepared transaction (the host's stored dictionary, changed in place).</param>
/// <param name="resource">What is guarded.</param>
public sealed class ParticipantProtocol<TOperation>(ParticipantLedger ledger, IDictionary<string, TOperation> reservations, IParticipantResource<TOperation> resource)
    where TOperation : class
{
    /// <summary>The protocol prefix of a three-phase commit fingerprint: the same id under the other protocol is another content.</summary>
    public const string ThreePhasePrefix = "3pc ";

    /// <summary>The ledger.</summary>
    public ParticipantLedger Ledger { get; } = ledger ?? throw new ArgumentNullException(nameof(ledger));

    /// <summary>True for a three-phase commit entry (it keeps the whole retention: it has no prepare deadline).</summary>
    public static bool IsThreePhase(ParticipantEntry entry) => entry?.Fingerprint.StartsWith(ThreePhasePrefix, StringComparison.Ordinal) == true;

    /// <summary>
    /// A prepare (<paramref name="threePhaseTimeout"/> null) or a three-phase can-commit. A two-phase
    /// prepare received after <paramref name="deadline"/> is refused: its coordinator stopped waiting
    /// (and may have finished the transaction, which this participant may already have forgotten), so
    /// reserving now could apply it twice.
    /// </summary>
    public PrepareStep Prepare(string transactionId, string description, TOperation operation, DateTimeOffset now, DateTimeOffset? deadline, TimeSpan? threePhaseTimeout)
    {
        var fingerprint = threePhaseTimeout is null ? description : ThreePhasePrefix + description;
        switch (Ledger.CheckPrepare(transactionId, fingerprint))
        {
            case PrepareVerdict.AlreadyPrepared:
            case PrepareVerdict.AlreadyCommitted:
                // The first prepare's write may still be in flight: vote yes only once it is durable.
                return new PrepareStep(PrepareResult.Granted, ParticipantWrite.Durable, Ledger.Find(transactionId)!.Status);
            case PrepareVerdict.AlreadyAborted:
                return new PrepareStep(PrepareResult.AlreadyAborted, ParticipantWrite.Durable, ParticipantStatus.Aborted);
            case PrepareVerdict.Conflict:
                return new PrepareStep(PrepareResult.Conflict, ParticipantWrite.None, Check: new ReserveCheck(false, null, $"{resource.Describe} prepared it as '{Ledger.Find(transactionId)!.Fingerprint}', not '{fingerprint}'"));
        }

        if (threePhaseTimeout is null && deadline is { } by && now > by)
        {
            return new PrepareStep(PrepareResult.Late, ParticipantWrite.None, Check: new ReserveCheck(false, null, $"{resource.Describe}: prepare of '{transactionId}' arrived after its deadline {by:O}"));
        }

        if (resource.Missing() is { } missing)
        {
            // Nothing is stored for something that does not exist.
            return new PrepareStep(PrepareResult.Missing, ParticipantWrite.None, Check: new ReserveCheck(false, null, missing));
        }

        var check = resource.CanReserve(operation);
        if (!check.Yes)
        {
            Ledger.RecordRefused(transactionId, fingerprint, now);
            return new PrepareStep(PrepareResult.Refused, ParticipantWrite.Persist, Check: check);
        }

        Ledger.RecordPrepared(transactionId, fingerprint, now, threePhaseTimeout);
        reservations[transactionId] = operation;
        return new PrepareStep(PrepareResult.Granted, ParticipantWrite.Persist);
    }

    /// <summary>Three-phase commit: uncertain -> pre-committed.</summary>
    public ParticipantStep PreCommit(string transactionId, DateTimeOffset now) => Ledger.PreCommit(transactionId, now) switch
    {
        PreCommitVerdict.Apply => new(ParticipantWrite.Persist),
        PreCommitVerdict.AlreadyPreCommitted or PreCommitVerdict.AlreadyCommitted => new(ParticipantWrite.Durable),
        PreCommitVerdict.RefusedAborted => new(ParticipantWrite.None, $"{resource.Describe}: pre-commit of '{transactionId}' refused: it was aborted here"),
        PreCommitVerdict.RefusedTwoPhase => new(ParticipantWrite.None, $"{resource.Describe}: pre-commit of '{transactionId}' refused: it is a two-phase commit transaction"),
        _ => new(ParticipantWrite.None, $"{resource.Describe}: pre-commit of '{transactionId}' refused: it never voted here"),
    };

    /// <summary>A commit (from the coordinator, an inquiry's answer or termination): applies the reservation.</summary>
    public ParticipantStep Commit(string transactionId, DateTimeOffset now)
    {
        switch (Ledger.Commit(transactionId, now))
        {
            case CommitVerdict.Apply:
                if (reservations.Remove(transactionId, out var operation))
                {
                    resource.Apply(operation);
                }

                resource.OnResolved(transactionId, ParticipantStatus.Committed);
                return new(ParticipantWrite.PersistOutcome);
            case CommitVerdict.AlreadyCommitted:
                return new(ParticipantWrite.None);
            case CommitVerdict.RefusedAborted:
                return new(ParticipantWrite.None, $"{resource.Describe}: commit of '{transactionId}' refused: it was aborted here");
            default:
                return new(ParticipantWrite.None, $"{resource.Describe}: commit of '{transactionId}' refused: it was never prepared here");
        }
    }

    /// <summary>An abort: releases the reservation; an abort before any prepare is remembered (so the late prepare votes no) unless the participant does not exist.</summary>
    public ParticipantStep Abort(string transactionId, DateTimeOffset now)
    {
        switch (Ledger.Abort(transactionId, now))
        {
            case AbortVerdict.Release:
                reservations.Remove(transactionId);
                resource.OnResolved(transactionId, ParticipantStatus.Aborted);
                return new(ParticipantWrite.PersistOutcome);
            case AbortVerdict.RecordedUnknown:
                if (resource.Missing() is null)
                {
                    return new(ParticipantWrite.Persist);
                }

                // Nothing is remembered for something that does not exist.
                Ledger.Forget(transactionId);
                return new(ParticipantWrite.None);
            case AbortVerdict.AlreadyAborted:
                return new(ParticipantWrite.None);
            default:
                return new(ParticipantWrite.None, $"{resource.Describe}: abort of '{transactionId}' refused: it was committed here");
        }
    }

    /// <summary>A two-phase commit transaction resolved by asking its coordinator: committed, or aborted (presumed abort for no record); null leaves it prepared.</summary>
    public ParticipantStep? Resolve(string transactionId, InquiryAnswer answer, DateTimeOffset now)
    {
        switch (answer)
        {
            case InquiryAnswer.Committed:
                return Commit(transactionId, now);
            case InquiryAnswer.Aborted:
            case InquiryAnswer.Unknown:
                return Abort(transactionId, now);
            default:
                Ledger.MarkInquired(transactionId, now);
                return null;
        }
    }
}
