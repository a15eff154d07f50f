namespace Granary.Transactions;

/// <summary>A participant's answer to prepare as the driver sees it.</summary>
/// <param name="Yes">The vote.</param>
/// <param name="Code">Machine-readable cause of a no (the transaction's abort code when this no decides).</param>
/// <param name="Reason">Why not.</param>
/// <param name="Rejection">The participant refused the request itself as invalid: the host rethrows it when the transaction aborts.</param>
public sealed record PrepareAnswer(bool Yes, string? Code = null, string? Reason = null, Exception? Rejection = null);

/// <summary>What became of one delivery of the decision to one participant.</summary>
public enum DecisionDelivery
{
    /// <summary>The participant applied the decision (or had already).</summary>
    Acknowledged = 1,

    /// <summary>The participant will never accept this decision (it resolved on its own against the protocol): retrying cannot help, counted as acknowledged.</summary>
    Refused = 2,

    /// <summary>No answer (error, timeout, lost silo): retried.</summary>
    Failed = 3,
}

/// <summary>The participants of two-phase commit as the driver reaches them (the host does the calls and classifies their errors).</summary>
public interface ITwoPhaseCommitParticipants
{
    /// <summary>Asks <paramref name="participant"/> to prepare; <paramref name="deadline"/> is when the coordinator stops waiting for the vote.</summary>
    Task<PrepareAnswer> PrepareAsync(string transactionId, string participant, DateTimeOffset deadline);

    /// <summary>Tells <paramref name="participant"/> the decision.</summary>
    Task<DecisionDelivery> DeliverAsync(string transactionId, string participant, TransactionDecision decision);
}

/// <summary>
/// The durable decision of one two-phase commit transaction. A record with no participants is a
/// presumed-abort tombstone: written when a participant asked before any decision existed, so that
/// nobody can decide the transaction afterwards.
/// </summary>
/// <param name="Snapshot">The coordinator as decided (and how far phase two got).</param>
/// <param name="AbortCode">Machine-readable abort cause (null on commit).</param>
/// <param name="Recoveries">How many times an activation resumed phase two from this record.</param>
/// <param name="Version">The store's version of the row (opaque), for <see cref="ITransactionDecisionStore.UpdateAsync"/>.</param>
public sealed record TransactionDecisionRecord(CoordinatorSnapshot Snapshot, string? AbortCode, int Recoveries = 0, string? Version = null)
{
    /// <summary>True for a presumed-abort tombstone.</summary>
    public bool IsPresumedAbort => Snapshot.Participants.Count == 0;

    /// <summary>A presumed-abort tombstone for <paramref name="transactionId"/>.</summary>
    public static TransactionDecisionRecord PresumedAbort(string transactionId, string abortCode, DateTimeOffset now) =>
        new(new CoordinatorSnapshot(transactionId, string.Empty, [], CoordinatorPhase.Done, TransactionDecision.Abort, [], null, now), abortCode);
}

/// <summary>Where the decisions of two-phase commit transactions are recorded: one record per transaction, the first recorded wins.</summary>
public interface ITransactionDecisionStore
{
    /// <summary>The record of <paramref name="transactionId"/>, or null when nothing was ever decided.</summary>
    Task<TransactionDecisionRecord?> ReadAsync(string transactionId);

    /// <summary>
    /// Records <paramref name="record"/> unless the transaction already has one. Returns the record now
    /// stored (this one, or the one recorded first) and whether this call inserted it. Throws when the
    /// store cannot tell (then nothing may be sent: the decision is not known to be durable).
    /// </summary>
    Task<(TransactionDecisionRecord Record, bool Inserted)> InsertIfAbsentAsync(TransactionDecisionRecord record);

    /// <summary>Replaces the record read or written at <see cref="TransactionDecisionRecord.Version"/> (progress of phase two); throws when it changed since. Returns it with its new version.</summary>
    Task<TransactionDecisionRecord> UpdateAsync(TransactionDecisionRecord record);
}

/// <summary>The protocol's bounds.</summary>
/// <param name="PrepareTimeout">How long phase one waits for the votes.</param>
/// <param name="CallTimeout">How long one delivery of the decision waits.</param>
/// <param name="Backoff">Delay between rounds of phase two.</param>
/// <param name="AbortCode">The abort code of an abort no participant gave a code for (a timeout, a failed call, presumed abort).</param>
public sealed record TwoPhaseCommitSettings(TimeSpan PrepareTimeout, TimeSpan CallTimeout, RetryBackoff Backoff, string AbortCode);

/// <summary>Phase one's result: the decided coordinator, the abort code and a participant's rejection of the request (if any).</summary>
/// <param name="Coordinator">Decided.</param>
/// <param name="AbortCode">Machine-readable abort cause (null on commit).</param>
/// <param name="Rejection">A participant refused the request as invalid.</param>
public sealed record TwoPhaseVotes(TwoPhaseCommitCoordinator Coordinator, string? AbortCode, Exception? Rejection)
{
    /// <summary>The record to store for this decision.</summary>
    public TransactionDecisionRecord ToRecord() => new(
        Coordinator.ToSnapshot(),
        Coordinator.Decision == TransactionDecision.Abort ? AbortCode : null);
}

/// <summary>
/// Two-phase commit with presumed abort, written once: prepare every participant in parallel within
/// the prepare timeout, decide (<see cref="TwoPhaseCommitCoordinator"/>), record the decision
/// (insert-if-absent: the first decision recorded for a transaction wins, a later one reads it),
/// then send it until every participant acknowledged, with backoff, within a budget; and recover a
/// transaction from its record (resume a decided one, presume abort for an undecided one). Pure
/// asynchronous code over the participants, the decision store and the clock: the grains that
/// host it only choose when to call each step.
/// </summary>
/// <example><code>
/// var votes = await driver.PrepareAllAsync(id, fingerprint, participants);
/// var (recorded, inserted) = await driver.RecordAsync(votes);
/// if (inserted) { await driver.SendDecisionAsync(votes.Coordinator, budget); }
/// </code></example>
public sealed class TwoPhaseCommitDriver(ITwoPhaseCommitParticipants participants, ITransactionDecisionStore store, TimeProvider time, TwoPhaseCommitSettings settings)
{
    private readonly ITwoPhaseCommitParticipants _participants = participants ?? throw new ArgumentNullException(nameof(participants));
    private readonly ITransactionDecisionStore _store = store ?? throw new ArgumentNullException(nameof(store));
    private readonly TimeProvider _time = time ?? throw new ArgumentNullException(nameof(time));
    private readonly TwoPhaseCommitSettings _settings = settings ?? throw new ArgumentNullException(nameof(settings));
    private readonly DecisionSender _sender = new(participants, time, settings);

    /// <summary>Phase one: prepares every participant in parallel, each bounded by the prepare timeout; a failed or missing vote is a no. Always returns decided.</summary>
    public async Task<TwoPhaseVotes> PrepareAllAsync(string transactionId, string fingerprint, IReadOnlyList<string> participantNames)
    {
        var coordinator = new TwoPhaseCommitCoordinator(transactionId, fingerprint, participantNames);
        coordinator.BeginPrepare(_time.GetUtcNow(), _settings.PrepareTimeout);
        string? abortCode = null;
        Exception? rejection = null;
        await Task.WhenAll(coordinator.Participants.Select(async name =>
        {
            PrepareAnswer answer;
            try
            {
                answer = await _participants.PrepareAsync(transactionId, name, _time.GetUtcNow() + _settings.PrepareTimeout).WaitAsync(_settings.PrepareTimeout, _time);
            }
            catch (TimeoutException)
            {
                answer = new PrepareAnswer(false, null, $"{name}: no vote within {_settings.PrepareTimeout.TotalSeconds:0.#} s");
            }
            catch (Exception ex) when (ex is not OutOfMemoryException)
            {
                answer = new PrepareAnswer(false, null, $"{name}: {ex.Message}");
            }

            rejection ??= answer.Rejection;
            if (coordinator.OnVote(name, answer.Yes ? Vote.Yes : Vote.No, answer.Reason, _time.GetUtcNow()) == TransactionDecision.Abort)
            {
                abortCode = answer.Code ?? _settings.AbortCode;
            }
        }));
        if (!coordinator.IsDecided)
        {
            coordinator.OnTick(coordinator.PrepareDeadline!.Value);
            coordinator.AbortUndecided("prepare did not complete", _time.GetUtcNow());
        }

        if (coordinator.Decision == TransactionDecision.Abort)
        {
            abortCode ??= _settings.AbortCode;
        }

        return new TwoPhaseVotes(coordinator, abortCode, rejection);
    }

    /// <summary>
    /// Records the decision (insert-if-absent). Returns the record now stored and whether it is this
    /// decision: when another decision (or a presumed-abort tombstone) was recorded first, it is the
    /// transaction's outcome and this one must not be sent. Throws when the store failed.
    /// </summary>
    public Task<(TransactionDecisionRecord Record, bool Inserted)> RecordAsync(TwoPhaseVotes votes)
    {
        ArgumentNullException.ThrowIfNull(votes);
        if (!votes.Coordinator.IsDecided)
        {
            throw new InvalidOperationException("only a decision is recorded (presumed abort)");
        }

        return _store.InsertIfAbsentAsync(votes.ToRecord());
    }

    /// <summary>
    /// Presumed abort, made durable: records a tombstone unless a decision exists. Returns the record
    /// now stored: the tombstone (the transaction is aborted) or the decision recorded first.
    /// </summary>
    public async Task<TransactionDecisionRecord> PresumeAbortAsync(string transactionId) =>
        (await _store.InsertIfAbsentAsync(TransactionDecisionRecord.PresumedAbort(transactionId, _settings.AbortCode, _time.GetUtcNow()))).Record;

    /// <summary>Rebuilds the coordinator of a recorded decision (null for a tombstone) to resume phase two.</summary>
    public TwoPhaseCommitCoordinator? Recover(TransactionDecisionRecord record)
    {
        ArgumentNullException.ThrowIfNull(record);
        return record.IsPresumedAbort ? null : TwoPhaseCommitCoordinator.Recover(record.Snapshot, _time.GetUtcNow());
    }

    /// <summary>Phase two (see <see cref="DecisionSender.SendAsync"/>).</summary>
    public Task<TimeSpan?> SendDecisionAsync(TwoPhaseCommitCoordinator coordinator, TimeSpan budget) => _sender.SendAsync(coordinator, budget);

    /// <summary>
    /// A run that lost the insert to an abort (a tombstone or another run's abort) releases what it
    /// prepared at once (one round of abort to its yes voters) rather than leave them to ask: safe,
    /// since the abort is durable.
    /// </summary>
    public Task ReleaseAsync(TwoPhaseCommitCoordinator lost)
    {
        ArgumentNullException.ThrowIfNull(lost);
        return _sender.DeliverAsync(lost, [.. lost.Votes.Where(v => v.Value == Vote.Yes).Select(v => v.Key)], TransactionDecision.Abort);
    }

    /// <summary>Records that phase two finished: the record keeps only the outcome (for replays and inquiries).</summary>
    public Task<TransactionDecisionRecord> CompactAsync(TwoPhaseCommitCoordinator coordinator, TransactionDecisionRecord stored)
    {
        ArgumentNullException.ThrowIfNull(coordinator);
        ArgumentNullException.ThrowIfNull(stored);
        return _store.UpdateAsync(stored with { Snapshot = coordinator.ToSnapshot() with { Acknowledged = [] } });
    }
}

/// <summary>
/// Sending a decision until every participant acknowledged it: the last step of two-phase commit,
/// and of three-phase commit (do-commit, or abort) too.
/// </summary>
/// <param name="participants">Where the decision goes.</param>
/// <param name="time">Clock (backoff and budget).</param>
/// <param name="settings">Call timeout and backoff.</param>
public sealed class DecisionSender(ITwoPhaseCommitParticipants participants, TimeProvider time, TwoPhaseCommitSettings settings)
{
    private readonly ITwoPhaseCommitParticipants _participants = participants ?? throw new ArgumentNullException(nameof(participants));
    private readonly TimeProvider _time = time ?? throw new ArgumentNullException(nameof(time));
    private readonly TwoPhaseCommitSettings _settings = settings ?? throw new ArgumentNullException(nameof(settings));

    /// <summary>
    /// Sends the coordinator's decision to every participant that has not acknowledged it, round
    /// after round with backoff, until all did or the next round would start after
    /// <paramref name="budget"/>. A participant that refuses the decision for good counts as
    /// acknowledged (retrying cannot help). Returns null when every participant acknowledged, else the
    /// delay after which the next round is due (the host resumes then, or leaves it to recovery).
    /// </summary>
    public async Task<TimeSpan?> SendAsync(TwoPhaseCommitCoordinator coordinator, TimeSpan budget)
    {
        ArgumentNullException.ThrowIfNull(coordinator);
        if (!coordinator.IsDecided)
        {
            throw new InvalidOperationException("only a recorded decision is sent");
        }

        var deadline = _time.GetUtcNow() + budget;
        for (var attempt = 1; ; attempt++)
        {
            await DeliverAsync(coordinator, coordinator.Unacknowledged, coordinator.Decision);
            if (coordinator.Phase == CoordinatorPhase.Done)
            {
                return null;
            }

            var delay = _settings.Backoff.Delay(attempt, Random.Shared.NextDouble());
            if (_time.GetUtcNow() + delay > deadline)
            {
                return delay;
            }

            await Task.Delay(delay, _time);
        }
    }

    /// <summary>One round: sends <paramref name="decision"/> to <paramref name="names"/> in parallel, each within the call timeout; the coordinator notes who acknowledged.</summary>
    public Task DeliverAsync(TwoPhaseCommitCoordinator coordinator, IReadOnlyList<string> names, TransactionDecision decision)
    {
        ArgumentNullException.ThrowIfNull(coordinator);
        ArgumentNullException.ThrowIfNull(names);
        return Task.WhenAll(names.Select(async name =>
        {
            DecisionDelivery delivery;
            try
            {
                delivery = await _participants.DeliverAsync(coordinator.TransactionId, name, decision).WaitAsync(_settings.CallTimeout, _time);
            }
            catch (Exception ex) when (ex is not OutOfMemoryException)
            {
                delivery = DecisionDelivery.Failed;
            }

            if (delivery != DecisionDelivery.Failed)
            {
                coordinator.OnAcknowledged(name);
            }
        }));
    }
}
