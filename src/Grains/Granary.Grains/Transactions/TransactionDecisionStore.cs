using Microsoft.Extensions.DependencyInjection;
using Orleans.Storage;

namespace Granary.Transactions;

/// <summary>
/// The decision record of every two-phase commit transaction, in the grain storage row of its
/// <see cref="TwoPhaseCommitCoordinatorGrain"/> (state <see cref="StateName"/>, type
/// <see cref="CoordinatorState"/>). Insert-if-absent is a write without an ETag: the storage refuses
/// it when the row exists, and the record that was there first is read and returned. Every reader and
/// writer of the record goes through here (the executor, the coordinator grain), so there is one
/// format and one rule.
/// </summary>
/// <param name="storage">The grain storage holding the coordinators' rows.</param>
/// <param name="grains">Grain factory (the row is keyed by the coordinator grain's id).</param>
public sealed class TransactionDecisionStore([FromKeyedServices(GranaryStorage.Default)] IGrainStorage storage, IGrainFactory grains) : ITransactionDecisionStore
{
    /// <summary>State name of the record (stored rows carry it: never change it).</summary>
    public const string StateName = "tx-coordinator";

    /// <inheritdoc/>
    public async Task<TransactionDecisionRecord?> ReadAsync(string transactionId)
    {
        var row = new GrainState<CoordinatorState>(new CoordinatorState());
        await storage.ReadStateAsync(StateName, RowOf(transactionId), row);
        return row.RecordExists && row.State?.Fingerprint is not null ? ToRecord(transactionId, row) : null;
    }

    /// <inheritdoc/>
    public async Task<(TransactionDecisionRecord Record, bool Inserted)> InsertIfAbsentAsync(TransactionDecisionRecord record)
    {
        ArgumentNullException.ThrowIfNull(record);
        var row = new GrainState<CoordinatorState>(ToState(record));
        try
        {
            await storage.WriteStateAsync(StateName, RowOf(record.Snapshot.TransactionId), row);
        }
        catch (InconsistentStateException)
        {
            // Recorded first by someone else: that record is the transaction's.
            return (await ReadAsync(record.Snapshot.TransactionId) ?? throw new InvalidOperationException($"the decision of '{record.Snapshot.TransactionId}' was refused as existing but cannot be read"), false);
        }

        return (record with { Version = row.ETag }, true);
    }

    /// <inheritdoc/>
    public async Task<TransactionDecisionRecord> UpdateAsync(TransactionDecisionRecord record)
    {
        ArgumentNullException.ThrowIfNull(record);
        var row = new GrainState<CoordinatorState>(ToState(record), record.Version) { RecordExists = true };
        await storage.WriteStateAsync(StateName, RowOf(record.Snapshot.TransactionId), row);
        return record with { Version = row.ETag };
    }

    private GrainId RowOf(string transactionId) => grains.GetGrain<ITwoPhaseCommitCoordinatorGrain>(transactionId).GetGrainId();

    private static CoordinatorState ToState(TransactionDecisionRecord record)
    {
        var s = record.Snapshot;
        return new CoordinatorState
        {
            Fingerprint = s.Fingerprint,
            Participants = [.. s.Participants.Select(Participants.Parse)],
            Phase = (int)s.Phase,
            Decision = (int)s.Decision,
            Acknowledged = [.. s.Acknowledged],
            AbortReason = s.AbortReason,
            AbortCode = record.AbortCode,
            DecidedAt = s.DecidedAt,
            Recoveries = record.Recoveries,
        };
    }

    private static TransactionDecisionRecord ToRecord(string transactionId, GrainState<CoordinatorState> row)
    {
        var s = row.State!;
        return new TransactionDecisionRecord(
            new CoordinatorSnapshot(
                transactionId,
                s.Fingerprint!,
                s.Participants.Select(p => p.ToString()).ToList(),
                (CoordinatorPhase)s.Phase,
                (TransactionDecision)s.Decision,
                s.Acknowledged,
                s.AbortReason,
                s.DecidedAt),
            s.AbortCode,
            s.Recoveries,
            row.ETag);
    }
}
