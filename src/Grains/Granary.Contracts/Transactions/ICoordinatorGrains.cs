using Granary.Security;
using Orleans.Concurrency;

namespace Granary.Transactions;

/// <summary>
/// Two-phase commit coordinator, one grain per transaction (key = transaction id). Prepares every
/// participant in parallel with a timeout, persists the decision, then sends it until every
/// participant acknowledged; a coordinator that lost its silo resumes when activated (by a prepared
/// participant asking, or by the recovery registry). Presumed abort: no record means aborted.
/// </summary>
/// <example><code>
/// var result = await grains.GetGrain&lt;ITwoPhaseCommitCoordinatorGrain&gt;("tx-42").ExecuteAsync(
///     new TxRequest([new(ParticipantRef.Account("alice"), new Debit(100)), new(ParticipantRef.Account("bob"), new Credit(100))]));
/// </code></example>
[Requires(Permission.Internal)]
[Alias("granary.tx.coordinator")]
public interface ITwoPhaseCommitCoordinatorGrain : IGrainWithStringKey
{
    /// <summary>Runs the transaction (or returns the outcome of an earlier run of the same request).</summary>
    [Requires(Permission.TransactionUse)]
    [Alias("execute")]
    Task<TransactionResult> ExecuteAsync(TxRequest request);

    /// <summary>Cooperative termination: a prepared participant asks for the outcome. Answers without waiting for a running execution.</summary>
    [Alias("inquire"), AlwaysInterleave]
    Task<TxInquiryAnswer> InquireAsync();

    /// <summary>The record (phase, decision, who has not acknowledged).</summary>
    [Requires(Permission.TransactionUse)]
    [Alias("status"), AlwaysInterleave]
    Task<TransactionStatusView> GetStatusAsync();

    /// <summary>Sends the decision again to participants that have not acknowledged.</summary>
    [Alias("resume")]
    Task<TransactionStatusView> ResumeAsync();
}

/// <summary>
/// Three-phase commit coordinator, one grain per transaction (key = transaction id): can-commit,
/// pre-commit, do-commit over the same participant grains as 2PC. Participants decide on their own
/// when it falls silent (an uncertain one aborts unless a peer is pre-committed or committed; a
/// pre-committed one commits), so a crashed coordinator blocks nobody. Correct only with message
/// delays bounded well below the timeout and no network partitions; see docs/transactions.md.
/// </summary>
/// <example><code>
/// var result = await grains.GetGrain&lt;IThreePhaseCommitCoordinatorGrain&gt;("tx-43").ExecuteAsync(request, new ThreePhaseRun());
/// </code></example>
[Requires(Permission.TransactionUse)]
[Alias("granary.tx.coordinator-3pc")]
public interface IThreePhaseCommitCoordinatorGrain : IGrainWithStringKey
{
    /// <summary>Runs the transaction (or returns the outcome of an earlier run of the same request).</summary>
    [Alias("execute")]
    Task<TransactionResult> ExecuteAsync(TxRequest request, ThreePhaseRun run);

    /// <summary>The record (phase, decision).</summary>
    [Alias("status"), AlwaysInterleave]
    Task<TransactionStatusView> GetStatusAsync();
}

/// <summary>
/// Durable list of transactions whose coordinator decided but has not finished phase two, split
/// into buckets. Each bucket wakes unfinished coordinators on a timer, so a decision taken on a
/// silo that then died is still delivered even if no participant asks.
/// </summary>
[Requires(Permission.Internal)]
[Alias("granary.tx.recovery")]
public interface ITransactionRecoveryGrain : IGrainWithIntegerKey
{
    /// <summary>Number of buckets.</summary>
    const int Buckets = 8;

    /// <summary>Adds an unfinished transaction (durable before it returns).</summary>
    [Alias("add")]
    Task AddAsync(string transactionId);

    /// <summary>Removes a finished transaction.</summary>
    [Alias("remove")]
    Task RemoveAsync(string transactionId);

    /// <summary>The unfinished transactions of this bucket and since when.</summary>
    [Requires(Permission.TransactionUse)]
    [Alias("list")]
    Task<IReadOnlyDictionary<string, DateTimeOffset>> ListAsync();
}

/// <summary>Bucket of a transaction id in <see cref="ITransactionRecoveryGrain"/>.</summary>
public static class TransactionRecovery
{
    /// <summary>The bucket.</summary>
    public static int BucketOf(string transactionId) =>
        (int)(Granary.Hashing.StableHash.Hash64(transactionId) % (ulong)ITransactionRecoveryGrain.Buckets);
}

/// <summary>
/// The fast path of two-phase commit: a stateless, reentrant executor local to the calling silo runs
/// the protocol for many transactions at once, writing each decision straight into the row of that
/// transaction's <see cref="ITwoPhaseCommitCoordinatorGrain"/> (insert-if-absent, before phase two).
/// No grain is activated per transaction; the per-transaction coordinator grain is activated only
/// when someone needs it (a participant's inquiry, a replay of the id, recovery).
/// </summary>
[Requires(Permission.TransactionUse)]
[Alias("granary.tx.executor")]
public interface ITwoPhaseCommitExecutorGrain : IGrainWithIntegerKey
{
    /// <summary>
    /// Runs the transaction, or hands it to its coordinator grain when a record already exists (replay,
    /// recovery, conflict). <paramref name="freshId"/>: the caller generated the id just now (a random
    /// GUID, never used before), so the read that looks for an earlier run is skipped. A caller that
    /// retries must pass false.
    /// </summary>
    [Alias("execute")]
    Task<TransactionResult> ExecuteAsync(string transactionId, TxRequest request, bool freshId);
}
