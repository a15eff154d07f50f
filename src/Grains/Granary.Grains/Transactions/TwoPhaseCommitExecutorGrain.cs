using Granary.Errors;
using Microsoft.Extensions.Logging;
using Microsoft.Extensions.Options;
using Orleans.Concurrency;

namespace Granary.Transactions;

/// <summary>
/// Two-phase commit without a grain activation per transaction (see <see cref="ITwoPhaseCommitExecutorGrain"/>):
/// a shell over <see cref="TwoPhaseCommitDriver"/>. It prepares, records the decision in the
/// <see cref="TransactionDecisionStore"/> (insert-if-absent, in the row of the transaction's
/// <see cref="TwoPhaseCommitCoordinatorGrain"/>) and runs phase two within <c>PhaseTwoBudget</c>. When
/// the record exists already (a replay, a presumed-abort tombstone written because a participant
/// asked, another run of the same id that decided first), nothing is sent and the coordinator grain
/// answers from the record. Phase two is never sent before the insert succeeded. Stragglers are
/// registered with the recovery registry, which wakes the coordinator grain; prepared participants
/// also ask it themselves.
/// </summary>
[StatelessWorker, Reentrant]
[GrainType("granary.transactions.two-phase-commit-executor")]
public sealed class TwoPhaseCommitExecutorGrain(
    TransactionDecisionStore decisions,
    TimeProvider time,
    IOptions<TransactionOptions> options,
    ILogger<TwoPhaseCommitExecutorGrain> logger) : Grain, ITwoPhaseCommitExecutorGrain
{
    private readonly TransactionOptions _options = options.Value;

    /// <inheritdoc/>
    public async Task<TransactionResult> ExecuteAsync(string transactionId, TxRequest request, bool freshId)
    {
        Guard.Name(transactionId, nameof(transactionId));
        Participants.ValidateRequest(request);
        var coordinatorGrain = GrainFactory.GetGrain<ITwoPhaseCommitCoordinatorGrain>(transactionId);

        // A replayed id must not be prepared again: a participant that already forgot the outcome
        // would reserve anew. A fresh id cannot have been run, and the insert below still refuses
        // to overwrite a tombstone or another decision.
        if (!freshId && await decisions.ReadAsync(transactionId) is not null)
        {
            // Seen before (replay, conflict, presumed abort, unfinished phase two): the coordinator grain owns it.
            return await coordinatorGrain.ExecuteAsync(request);
        }

        var driver = new TwoPhaseCommitDriver(new TransactionParticipantChannel(GrainFactory, request.Steps, logger), decisions, time, _options.TwoPhaseCommit);
        var votes = await driver.PrepareAllAsync(transactionId, request.Fingerprint(), [.. request.Steps.Select(s => s.Participant.ToString())]);
        var registry = _options.UseRecoveryRegistry && _options.RegisterEveryDecision
            ? RecoveryRegistry.AddAsync(GrainFactory, transactionId, _options, time, logger)
            : Task.CompletedTask;
        var (_, inserted) = await driver.RecordAsync(votes);
        if (!inserted)
        {
            // Someone decided first: follow its record. If that is an abort, release what this run
            // prepared now rather than leave the participants to find out by inquiry.
            var decided = await coordinatorGrain.ExecuteAsync(request);
            if (decided.Outcome == TxOutcome.Aborted)
            {
                await driver.ReleaseAsync(votes.Coordinator);
            }

            return decided;
        }

        await registry;
        if (await driver.SendDecisionAsync(votes.Coordinator, _options.PhaseTwoBudget) is not null
            && _options.UseRecoveryRegistry && !_options.RegisterEveryDecision)
        {
            await RecoveryRegistry.AddAsync(GrainFactory, transactionId, _options, time, logger);
        }

        var coordinator = votes.Coordinator;
        if (votes.Rejection is { } rejection && coordinator.Decision == TransactionDecision.Abort)
        {
            throw rejection;
        }

        var unacknowledged = coordinator.Unacknowledged.Count;
        return coordinator.Decision == TransactionDecision.Commit
            ? new TransactionResult(transactionId, TxOutcome.Committed, null, null, unacknowledged, Replayed: false)
            : new TransactionResult(transactionId, TxOutcome.Aborted, votes.AbortCode, coordinator.AbortReason, unacknowledged, Replayed: false);
    }
}
