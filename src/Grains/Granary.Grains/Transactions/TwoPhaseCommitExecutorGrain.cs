using Granary.Errors;
using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.Logging;
using Microsoft.Extensions.Options;
using Orleans.Concurrency;
using Orleans.Storage;

namespace Granary.Transactions;

/// <summary>
/// Two-phase commit without a grain activation per transaction (see <see cref="ITwoPhaseCommitExecutorGrain"/>).
/// The protocol is the coordinator grain's, step for step: validate, prepare in parallel within
/// <c>PrepareTimeout</c>, persist the decision, then phase two with retries; what differs is where the
/// decision goes. It is written through the grain storage into the row of the transaction's
/// <see cref="TwoPhaseCommitCoordinatorGrain"/> (state <c>tx-coordinator</c>) with no ETag, i.e.
/// insert-if-absent: if that grain wrote a presumed-abort tombstone first (a participant asked), or
/// another executor of the same id decided first, the write fails, nothing is sent, and the
/// coordinator grain answers from its record. Phase two is never sent before the insert succeeded.
/// Stragglers (phase two outliving <c>PhaseTwoBudget</c>) are registered with the recovery registry,
/// which wakes the coordinator grain; prepared participants also ask it themselves.
/// </summary>
[StatelessWorker, Reentrant]
[GrainType("granary.transactions.two-phase-commit-executor")]
public sealed class TwoPhaseCommitExecutorGrain : Grain, ITwoPhaseCommitExecutorGrain
{
    /// <summary>State name of the coordinator grain's record (must match <see cref="TwoPhaseCommitCoordinatorGrain"/>).</summary>
    public const string CoordinatorStateName = "tx-coordinator";

    private readonly IGrainStorage _storage;
    private readonly TimeProvider _time;
    private readonly TransactionOptions _options;
    private readonly ILogger<TwoPhaseCommitExecutorGrain> _logger;

    /// <summary>Creates the executor.</summary>
    public TwoPhaseCommitExecutorGrain(IServiceProvider services, TimeProvider time, IOptions<TransactionOptions> options, ILogger<TwoPhaseCommitExecutorGrain> logger)
    {
        ArgumentNullException.ThrowIfNull(services);
        ArgumentNullException.ThrowIfNull(options);
        _storage = services.GetRequiredKeyedService<IGrainStorage>(GranaryStorage.Default);
        _time = time;
        _options = options.Value;
        _logger = logger;
    }

    /// <inheritdoc/>
    public async Task<TransactionResult> ExecuteAsync(string transactionId, TxRequest request, bool freshId)
    {
        Guard.Name(transactionId, nameof(transactionId));
        if (request?.Steps is null)
        {
            throw new InvalidRequestException(nameof(request), "must list steps");
        }

        Participants.Validate(request.Steps.Select(s => s?.Participant!).ToList(), "steps");
        for (var i = 0; i < request.Steps.Count; i++)
        {
            Participants.ValidateOperation(request.Steps[i].Participant, request.Steps[i].Operation, $"steps[{i}]");
        }

        var coordinatorGrain = GrainFactory.GetGrain<ITwoPhaseCommitCoordinatorGrain>(transactionId);
        var grainId = coordinatorGrain.GetGrainId();
        var record = new GrainState<CoordinatorState>(new CoordinatorState());

        // A replayed id must not be prepared again: a participant that already forgot the outcome
        // would reserve anew. A fresh id cannot have been run, and the insert below still refuses
        // to overwrite a tombstone or another decision.
        if (!freshId)
        {
            await _storage.ReadStateAsync(CoordinatorStateName, grainId, record);
        }

        if (record.RecordExists && record.State?.Fingerprint is not null)
        {
            // Seen before (replay, conflict, presumed abort, unfinished phase two): the coordinator grain owns it.
            return await coordinatorGrain.ExecuteAsync(request);
        }

        var participants = request.Steps.ToDictionary(s => s.Participant.ToString(), s => s.Participant, StringComparer.Ordinal);

        // One grain reference per participant for both phases.
        var grains = participants.ToDictionary(p => p.Key, p => Participants.Transactional(GrainFactory, p.Value), StringComparer.Ordinal);
        var coordinator = new TwoPhaseCommitCoordinator(transactionId, request.Fingerprint(), participants.Keys);
        coordinator.BeginPrepare(_time.GetUtcNow(), _options.PrepareTimeout);
        string? abortCode = null;
        InvalidRequestException? rejection = null;

        await Task.WhenAll(request.Steps.Select(async step =>
        {
            var name = step.Participant.ToString();
            try
            {
                PrepareDeadline.Set(_time.GetUtcNow() + _options.PrepareTimeout);
                var vote = await grains[name]
                    .PrepareAsync(transactionId, step.Operation)
                    .WaitAsync(_options.PrepareTimeout, _time);
                if (coordinator.OnVote(name, vote.Yes ? Vote.Yes : Vote.No, vote.Reason, _time.GetUtcNow()) == TransactionDecision.Abort)
                {
                    abortCode = vote.Code ?? TransactionErrorCodes.Aborted;
                }
            }
            catch (Exception ex) when (ex is not OutOfMemoryException)
            {
                rejection ??= ex as InvalidRequestException;
                var reason = ex is TimeoutException ? $"no vote within {_options.PrepareTimeout.TotalSeconds:0.#} s" : ex.Message;
                if (coordinator.OnPrepareFailed(name, reason, _time.GetUtcNow()) == TransactionDecision.Abort)
                {
                    abortCode = ex switch
                    {
                        TransactionConflictException => ErrorCodes.Conflict,
                        InvalidRequestException => ErrorCodes.InvalidArgument,
                        _ => TransactionErrorCodes.Aborted,
                    };
                }
            }
        }));
        if (!coordinator.IsDecided)
        {
            coordinator.AbortUndecided("prepare did not complete", _time.GetUtcNow());
        }

        // The decision is durable (inserted into the coordinator grain's row) before anyone hears it.
        var snapshot = coordinator.ToSnapshot();
        record.State = new CoordinatorState
        {
            Fingerprint = snapshot.Fingerprint,
            Participants = [.. snapshot.Participants.Select(p => participants[p])],
            Phase = (int)snapshot.Phase,
            Decision = (int)snapshot.Decision,
            AbortReason = snapshot.AbortReason,
            AbortCode = snapshot.Decision == TransactionDecision.Abort ? abortCode ?? TransactionErrorCodes.Aborted : null,
            DecidedAt = snapshot.DecidedAt,
        };
        var registry = _options.UseRecoveryRegistry && _options.RegisterEveryDecision ? RegisterAsync(transactionId) : Task.CompletedTask;
        try
        {
            await _storage.WriteStateAsync(CoordinatorStateName, grainId, record);
        }
        catch (InconsistentStateException)
        {
            // Someone decided first (a presumed-abort tombstone, or another run of this id): follow
            // its record. If that is an abort, release what this run prepared now rather than leave
            // the participants to find out by inquiry (the abort is durable, so this is safe).
            var decided = await coordinatorGrain.ExecuteAsync(request);
            if (decided.Outcome == TxOutcome.Aborted)
            {
                await Task.WhenAll(coordinator.Votes.Where(v => v.Value == Vote.Yes)
                    .Select(v => SendDecisionAsync(transactionId, coordinator, grains[v.Key], v.Key, commit: false)));
            }

            return decided;
        }

        await registry;

        // Phase two, retried with backoff within the budget; stragglers go to the recovery registry.
        var commit = coordinator.Decision == TransactionDecision.Commit;
        var deadline = _time.GetUtcNow() + _options.PhaseTwoBudget;
        for (var attempt = 1; coordinator.Phase != CoordinatorPhase.Done; attempt++)
        {
            await Task.WhenAll(coordinator.Unacknowledged.Select(name => SendDecisionAsync(transactionId, coordinator, grains[name], name, commit)));
            if (coordinator.Phase == CoordinatorPhase.Done)
            {
                break;
            }

            var delay = _options.Backoff.Delay(attempt, Random.Shared.NextDouble());
            if (_time.GetUtcNow() + delay > deadline)
            {
                if (_options.UseRecoveryRegistry && !_options.RegisterEveryDecision)
                {
                    await RegisterAsync(transactionId);
                }

                break;
            }

            await Task.Delay(delay, _time);
        }

        if (rejection is not null && !commit)
        {
            throw rejection;
        }

        var unacknowledged = coordinator.Unacknowledged.Count;
        return commit
            ? new TransactionResult(transactionId, TxOutcome.Committed, null, null, unacknowledged, Replayed: false)
            : new TransactionResult(transactionId, TxOutcome.Aborted, record.State.AbortCode, coordinator.AbortReason, unacknowledged, Replayed: false);
    }

    private async Task SendDecisionAsync(string transactionId, TwoPhaseCommitCoordinator coordinator, ITransactionParticipant grain, string name, bool commit)
    {
        try
        {
            await (commit ? grain.CommitAsync(transactionId) : grain.AbortAsync(transactionId)).WaitAsync(_options.CallTimeout, _time);
            coordinator.OnAcknowledged(name);
        }
        catch (TransactionProtocolException ex)
        {
            TransactionLog.LogWarningDecisionRefused(_logger, transactionId, name, commit ? "commit" : "abort", ex.Message);
            coordinator.OnAcknowledged(name);
        }
        catch (Exception ex) when (ex is not OutOfMemoryException)
        {
            TransactionLog.LogDebugPhaseTwoRetry(_logger, transactionId, commit ? "commit" : "abort", name, ex.Message);
        }
    }

    private async Task RegisterAsync(string transactionId)
    {
        try
        {
            await GrainFactory.GetGrain<ITransactionRecoveryGrain>(TransactionRecovery.BucketOf(transactionId)).AddAsync(transactionId).WaitAsync(_options.CallTimeout, _time);
        }
        catch (Exception ex) when (ex is not OutOfMemoryException)
        {
            TransactionLog.LogWarningRegistryFailed(_logger, transactionId, ex.Message);
        }
    }
}
