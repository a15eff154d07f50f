using Granary.Security;
using Orleans.Concurrency;

namespace Granary.Transactions;

/// <summary>
/// The contract of a grain that takes part in two-phase commit. Every method is idempotent:
/// duplicates and reordered messages are absorbed (see <c>ParticipantLedger</c>). A yes vote is
/// durable (the reservation is persisted before the vote returns). A participant prepared for
/// longer than its timeout asks the coordinator and aborts when it has no record (presumed abort).
/// Prepare, commit and abort interleave with each other and with the participant's other calls,
/// so that concurrent transactions on one participant share its state writes (group commit);
/// each still changes the state atomically and answers only once its change is durable.
/// </summary>
/// <example><code>
/// var vote = await account.PrepareAsync("tx-42", new Debit(100));
/// if (vote.Yes) await account.CommitAsync("tx-42");
/// </code></example>
[Requires(Permission.Internal)]
[Alias("granary.tx.participant")]
public interface ITransactionParticipant : IGrainWithStringKey
{
    /// <summary>Phase one: validate and reserve, or refuse. The same id with another operation is a <see cref="TransactionConflictException"/>.</summary>
    [Alias("prepare")]
    [AlwaysInterleave]
    Task<PrepareResponse> PrepareAsync(string transactionId, TxOperation operation);

    /// <summary>Phase two, commit: apply the reservation. Refused (<see cref="TransactionProtocolException"/>) for an unknown or aborted transaction.</summary>
    [Alias("commit")]
    [AlwaysInterleave]
    Task CommitAsync(string transactionId);

    /// <summary>Phase two, abort: release the reservation (or remember the abort if prepare has not arrived).</summary>
    [Alias("abort")]
    [AlwaysInterleave]
    Task AbortAsync(string transactionId);

    /// <summary>
    /// Three-phase commit, phase one: validate and reserve (durably), or refuse. The participant
    /// then waits at most <see cref="ThreePhaseTerms.Timeout"/> for pre-commit before deciding alone
    /// with the other participants named in <paramref name="terms"/> (see <c>ThreePhaseTermination</c>).
    /// </summary>
    [Alias("can-commit")]
    Task<PrepareResponse> CanCommitAsync(string transactionId, TxOperation operation, ThreePhaseTerms terms);

    /// <summary>Three-phase commit, phase two: every participant voted yes. Durable before it returns; refused (<see cref="TransactionProtocolException"/>) if the participant already aborted.</summary>
    [Alias("pre-commit")]
    Task PreCommitAsync(string transactionId);

    /// <summary>What this participant knows about a transaction (null when nothing).</summary>
    [Requires(Permission.TransactionUse)]
    [Alias("tx")]
    Task<ParticipantTxView?> GetTransactionAsync(string transactionId);

    /// <summary>
    /// Which of <paramref name="transactionIds"/> (at most <see cref="Limits.MaxBatchSize"/>) are still
    /// open here (prepared or pre-committed, waiting for an outcome), answered once every outcome this
    /// participant applied is durable: an id not returned needs nothing more from its coordinator. The
    /// decision sweep asks this before it deletes a coordinator's record.
    /// </summary>
    [Alias("open-among")]
    [AlwaysInterleave]
    Task<IReadOnlyList<string>> OpenAmongAsync(IReadOnlyList<string> transactionIds);

    /// <summary>Every transaction this participant remembers (prepared ones and recent outcomes).</summary>
    [Requires(Permission.TransactionUse)]
    [Alias("txs")]
    Task<IReadOnlyList<ParticipantTxView>> GetTransactionsAsync();
}

/// <summary>
/// The contract of a saga participant, TCC style: each step is keyed (saga id + step); an action
/// runs at most once, a compensation without its action is a no-op that leaves a barrier, and an
/// action arriving after its compensation is refused.
/// </summary>
[Requires(Permission.Internal)]
[Alias("granary.saga.participant")]
public interface ISagaParticipant : IGrainWithStringKey
{
    /// <summary>Runs the action once. Returns null on success, else why it was refused (not worth retrying).</summary>
    [Alias("saga-action")]
    Task<string?> RunSagaActionAsync(string stepKey, TxOperation operation);

    /// <summary>Undoes the action if it ran; returns true if something was undone.</summary>
    [Alias("saga-compensate")]
    Task<bool> CompensateSagaActionAsync(string stepKey, TxOperation operation);
}
