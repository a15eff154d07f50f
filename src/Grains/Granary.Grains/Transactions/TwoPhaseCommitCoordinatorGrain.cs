using Granary.Errors;
using Microsoft.Extensions.Logging;
using Microsoft.Extensions.Options;

namespace Granary.Transactions;

/// <summary>
/// One two-phase commit per grain (key = transaction id), driving <see cref="TwoPhaseCommitCoordinator"/>.
/// Nothing is written while preparing (presumed abort); the decision is written before phase two;
/// phase two retries with backoff until every participant acknowledged, then the record is reduced
/// to its outcome. An activation that finds an unfinished decision resumes phase two at once.
/// </summary>
[GrainType("granary.transactions.two-phase-commit-coordinator")]
[KeyIsName("transactionId")]
public sealed class TwoPhaseCommitCoordinatorGrain(
    [PersistentState("tx-coordinator", GranaryStorage.Default)] IPersistentState<CoordinatorState> state,
    TimeProvider time,
    IOptions<TransactionOptions> options,
    ILogger<TwoPhaseCommitCoordinatorGrain> logger) : Grain, ITwoPhaseCommitCoordinatorGrain
{
    private readonly TransactionOptions _options = options.Value;
    private TwoPhaseCommitCoordinator? _coordinator;
    private Dictionary<string, ParticipantRef> _participants = new(StringComparer.Ordinal);
    private string? _abortCode;
    private bool _presumedAborted;
    private bool _phaseTwoRunning;
    private IGrainTimer? _resumeTimer;
    private InvalidRequestException? _participantRejection;
    private bool _registered;
    private bool _compactionPending;

    private string TransactionId => this.GetPrimaryKeyString();

    /// <inheritdoc/>
    public override Task OnActivateAsync(CancellationToken cancellationToken)
    {
        if (state.RecordExists && state.State.Fingerprint is not null)
        {
            if (state.State.Participants.Count == 0)
            {
                _presumedAborted = true;
            }
            else
            {
                _participants = state.State.Participants.ToDictionary(p => p.ToString(), StringComparer.Ordinal);
                _abortCode = state.State.AbortCode;
                _coordinator = TwoPhaseCommitCoordinator.Recover(
                    new CoordinatorSnapshot(
                        TransactionId,
                        state.State.Fingerprint,
                        state.State.Participants.Select(p => p.ToString()).ToList(),
                        (CoordinatorPhase)state.State.Phase,
                        (TransactionDecision)state.State.Decision,
                        state.State.Acknowledged,
                        state.State.AbortReason,
                        state.State.DecidedAt),
                    time.GetUtcNow());
                if (_coordinator.Phase != CoordinatorPhase.Done)
                {
                    // Recovery: the silo that ran this transaction is gone (or the activation was
                    // collected) with the decision durable and some participants not told.
                    state.State.Recoveries++;
                    TransactionLog.LogInformationRecovering(logger, TransactionId, _coordinator.Decision.ToString(), _coordinator.Unacknowledged.Count);
                    ScheduleResume(TimeSpan.FromMilliseconds(50));
                    _registered = true; // it may be in the registry; removing an absent entry is harmless
                }
            }
        }

        return base.OnActivateAsync(cancellationToken);
    }

    /// <inheritdoc/>
    public override async Task OnDeactivateAsync(DeactivationReason reason, CancellationToken cancellationToken)
    {
        // Lazy clean-up: the record is reduced to its outcome when the activation goes away, not on
        // every transaction's path. If this write never happens (the silo dies first), the record
        // still says "decided, not all acknowledged": the next activation resends the decision
        // (participants absorb duplicates) and compacts then.
        if (_compactionPending && _coordinator is { Phase: CoordinatorPhase.Done } done && reason.ReasonCode != DeactivationReasonCode.ShuttingDown)
        {
            _compactionPending = false;
            await CompactAsync(done);
        }

        await base.OnDeactivateAsync(reason, cancellationToken);
    }

    /// <inheritdoc/>
    public async Task<TransactionResult> ExecuteAsync(TxRequest request)
    {
        Guard.Name(TransactionId, "transactionId");
        if (request?.Steps is null)
        {
            throw new InvalidRequestException(nameof(request), "must list steps");
        }

        Participants.Validate(request.Steps.Select(s => s?.Participant!).ToList(), "steps");
        for (var i = 0; i < request.Steps.Count; i++)
        {
            Participants.ValidateOperation(request.Steps[i].Participant, request.Steps[i].Operation, $"steps[{i}]");
        }

        var fingerprint = request.Fingerprint();
        if (_presumedAborted)
        {
            return new TransactionResult(TransactionId, TxOutcome.Aborted, TransactionErrorCodes.Aborted, "aborted by presumption: a participant asked before any decision existed", 0, Replayed: true);
        }

        if (_coordinator is { } existing)
        {
            if (!string.Equals(existing.Fingerprint, fingerprint, StringComparison.Ordinal))
            {
                throw new TransactionConflictException(TransactionId, $"already used for '{existing.Fingerprint}'; this request is '{fingerprint}'");
            }

            if (existing.IsDecided && existing.Phase != CoordinatorPhase.Done)
            {
                await FinishPhaseTwoAsync(_options.PhaseTwoBudget);
            }

            return Result(existing, replayed: true);
        }

        var coordinator = new TwoPhaseCommitCoordinator(TransactionId, fingerprint, request.Steps.Select(s => s.Participant.ToString()));
        _coordinator = coordinator;
        _participants = request.Steps.ToDictionary(s => s.Participant.ToString(), s => s.Participant, StringComparer.Ordinal);
        coordinator.BeginPrepare(time.GetUtcNow(), _options.PrepareTimeout);

        // Phase one, in parallel, bounded by the prepare timeout.
        await Task.WhenAll(request.Steps.Select(PrepareOneAsync));
        if (!coordinator.IsDecided)
        {
            coordinator.OnTick(coordinator.PrepareDeadline!.Value);
            coordinator.AbortUndecided("prepare did not complete", time.GetUtcNow());
        }

        // The decision is durable before anyone hears it.
        await PersistDecisionAsync(coordinator);
        await FinishPhaseTwoAsync(_options.PhaseTwoBudget);
        if (_participantRejection is { } rejection && coordinator.Decision == TransactionDecision.Abort)
        {
            throw rejection;
        }

        return Result(coordinator, replayed: false);
    }

    /// <inheritdoc/>
    public async Task<TxInquiryAnswer> InquireAsync()
    {
        if (_presumedAborted)
        {
            return TxInquiryAnswer.Unknown;
        }

        if (_coordinator is null)
        {
            // Presumed abort. The tombstone is written so that a stale activation of this
            // coordinator (possible for a moment during membership changes) cannot still decide
            // commit: its decision write would fail the ETag check.
            _presumedAborted = true;
            state.State.Fingerprint = string.Empty;
            state.State.Participants = [];
            state.State.Decision = (int)TransactionDecision.Abort;
            state.State.Phase = (int)CoordinatorPhase.Done;
            state.State.DecidedAt = time.GetUtcNow();
            try
            {
                await state.WriteStateAsync();
            }
            catch
            {
                _presumedAborted = false;
                DeactivateOnIdle();
                throw;
            }

            return TxInquiryAnswer.Unknown;
        }

        if (_coordinator.IsDecided && _coordinator.Phase != CoordinatorPhase.Done && !_phaseTwoRunning)
        {
            ScheduleResume(TimeSpan.Zero);
        }

        return _coordinator.Answer() switch
        {
            InquiryAnswer.Committed => TxInquiryAnswer.Committed,
            InquiryAnswer.Aborted => TxInquiryAnswer.Aborted,
            InquiryAnswer.Pending => TxInquiryAnswer.Pending,
            _ => TxInquiryAnswer.Unknown,
        };
    }

    /// <inheritdoc/>
    public Task<TransactionStatusView> GetStatusAsync() => Task.FromResult(Status());

    /// <inheritdoc/>
    public async Task<TransactionStatusView> ResumeAsync()
    {
        if (_coordinator is { IsDecided: true, Phase: not CoordinatorPhase.Done })
        {
            await FinishPhaseTwoAsync(_options.CallTimeout);
        }

        return Status();
    }

    private async Task PrepareOneAsync(TxStep step)
    {
        var coordinator = _coordinator!;
        var name = step.Participant.ToString();
        try
        {
            PrepareDeadline.Set(time.GetUtcNow() + _options.PrepareTimeout);
            var vote = await Participants.Transactional(GrainFactory, step.Participant)
                .PrepareAsync(TransactionId, step.Operation)
                .WaitAsync(_options.PrepareTimeout, time);
            if (coordinator.OnVote(name, vote.Yes ? Vote.Yes : Vote.No, vote.Reason, time.GetUtcNow()) == TransactionDecision.Abort)
            {
                _abortCode = vote.Code ?? TransactionErrorCodes.Aborted;
            }
        }
        catch (Exception ex) when (ex is not OutOfMemoryException)
        {
            var code = ex switch
            {
                TransactionConflictException => ErrorCodes.Conflict,
                InvalidRequestException => ErrorCodes.InvalidArgument,
                TimeoutException => TransactionErrorCodes.Aborted,
                _ => TransactionErrorCodes.Aborted,
            };
            if (ex is InvalidRequestException invalid)
            {
                _participantRejection = invalid;
            }

            var reason = ex is TimeoutException ? $"no vote within {_options.PrepareTimeout.TotalSeconds:0.#} s" : ex.Message;
            if (coordinator.OnPrepareFailed(name, reason, time.GetUtcNow()) == TransactionDecision.Abort)
            {
                _abortCode = code;
            }
        }
    }

    private async Task PersistDecisionAsync(TwoPhaseCommitCoordinator coordinator)
    {
        Snapshot(coordinator);
        var registry = _options.UseRecoveryRegistry && _options.RegisterEveryDecision
            ? RegisterAsync()
            : Task.CompletedTask;
        try
        {
            await state.WriteStateAsync();
        }
        catch
        {
            // Not durable, so not decided: forget it. Prepared participants will ask and, finding
            // no record, abort (presumed abort), unless a newer activation decided meanwhile.
            _coordinator = null;
            DeactivateOnIdle();
            throw;
        }

        await registry;
    }

    private async Task RegisterAsync()
    {
        try
        {
            await GrainFactory.GetGrain<ITransactionRecoveryGrain>(TransactionRecovery.BucketOf(TransactionId)).AddAsync(TransactionId).WaitAsync(_options.CallTimeout, time);
        }
        catch (Exception ex) when (ex is not OutOfMemoryException)
        {
            // Participants still ask the coordinator when they hear nothing; the registry only
            // covers the case where none of them is active.
            TransactionLog.LogWarningRegistryFailed(logger, TransactionId, ex.Message);
        }
    }

    private async Task FinishPhaseTwoAsync(TimeSpan budget)
    {
        var coordinator = _coordinator;
        if (coordinator is null || !coordinator.IsDecided || _phaseTwoRunning)
        {
            return;
        }

        _phaseTwoRunning = true;
        try
        {
            var deadline = time.GetUtcNow() + budget;
            var attempt = 0;
            var commit = coordinator.Decision == TransactionDecision.Commit;
            while (coordinator.Phase != CoordinatorPhase.Done)
            {
                await Task.WhenAll(coordinator.Unacknowledged.Select(p => SendDecisionAsync(coordinator, p, commit)));
                if (coordinator.Phase == CoordinatorPhase.Done)
                {
                    break;
                }

                attempt++;
                var delay = _options.Backoff.Delay(attempt, Random.Shared.NextDouble());
                if (time.GetUtcNow() + delay > deadline)
                {
                    // Leave the rest to a timer; the decision is durable so the outcome is known.
                    // Stragglers go to the recovery registry, which outlives this silo.
                    ScheduleResume(delay);
                    if (_options.UseRecoveryRegistry && !_registered)
                    {
                        _registered = true;
                        await RegisterAsync();
                    }

                    return;
                }

                await Task.Delay(delay, time);
            }

            _resumeTimer?.Dispose();
            _resumeTimer = null;

            // Everyone knows: reduce the record to its outcome (kept so a replay of the same id
            // answers the same and a reuse with other content is refused), lazily on deactivation.
            _compactionPending = true;
            if (_options.UseRecoveryRegistry && (_registered || _options.RegisterEveryDecision))
            {
                _ = GrainFactory.GetGrain<ITransactionRecoveryGrain>(TransactionRecovery.BucketOf(TransactionId)).RemoveAsync(TransactionId)
                    .ContinueWith(t => t.Exception, TaskScheduler.Default);
            }
        }
        finally
        {
            _phaseTwoRunning = false;
        }
    }

    private async Task CompactAsync(TwoPhaseCommitCoordinator coordinator)
    {
        try
        {
            Snapshot(coordinator);
            state.State.Acknowledged = [];
            await state.WriteStateAsync();
        }
        catch (Exception ex) when (ex is not OutOfMemoryException)
        {
            TransactionLog.LogWarningCompactFailed(logger, TransactionId, ex.Message);
        }
    }

    private async Task SendDecisionAsync(TwoPhaseCommitCoordinator coordinator, string name, bool commit)
    {
        var participant = Participants.Transactional(GrainFactory, _participants[name]);
        try
        {
            await (commit ? participant.CommitAsync(TransactionId) : participant.AbortAsync(TransactionId)).WaitAsync(_options.CallTimeout, time);
            coordinator.OnAcknowledged(name);
        }
        catch (TransactionProtocolException ex)
        {
            // The participant will never accept this decision: retrying cannot help. Seen only if
            // a participant resolved on its own against the protocol; logged loudly.
            TransactionLog.LogWarningDecisionRefused(logger, TransactionId, name, commit ? "commit" : "abort", ex.Message);
            coordinator.OnAcknowledged(name);
        }
        catch (Exception ex) when (ex is not OutOfMemoryException)
        {
            TransactionLog.LogDebugPhaseTwoRetry(logger, TransactionId, commit ? "commit" : "abort", name, ex.Message);
        }
    }

    private void ScheduleResume(TimeSpan due)
    {
        _resumeTimer?.Dispose();
        _resumeTimer = this.RegisterGrainTimer(
            async _ => await FinishPhaseTwoAsync(_options.CallTimeout + _options.RetryMax),
            new GrainTimerCreationOptions(due, _options.RetryMax) { KeepAlive = true });
    }

    private void Snapshot(TwoPhaseCommitCoordinator coordinator)
    {
        var snapshot = coordinator.ToSnapshot();
        state.State.Fingerprint = snapshot.Fingerprint;
        state.State.Participants = snapshot.Participants.Select(p => _participants[p]).ToList();
        state.State.Phase = (int)snapshot.Phase;
        state.State.Decision = (int)snapshot.Decision;
        state.State.Acknowledged = [.. snapshot.Acknowledged];
        state.State.AbortReason = snapshot.AbortReason;
        state.State.AbortCode = snapshot.Decision == TransactionDecision.Abort ? _abortCode ?? TransactionErrorCodes.Aborted : null;
        state.State.DecidedAt = snapshot.DecidedAt;
    }

    private TransactionResult Result(TwoPhaseCommitCoordinator c, bool replayed) => c.Decision == TransactionDecision.Commit
        ? new TransactionResult(TransactionId, TxOutcome.Committed, null, null, c.Unacknowledged.Count, replayed)
        : new TransactionResult(TransactionId, TxOutcome.Aborted, _abortCode ?? TransactionErrorCodes.Aborted, c.AbortReason, c.Unacknowledged.Count, replayed);

    private TransactionStatusView Status()
    {
        if (_coordinator is { } c)
        {
            return new TransactionStatusView(TransactionId, c.Phase.ToString(), c.Decision.ToString(), c.Participants, c.Unacknowledged, c.AbortReason, c.DecidedAt, state.State.Recoveries);
        }

        return _presumedAborted
            ? new TransactionStatusView(TransactionId, nameof(CoordinatorPhase.Done), "Abort (presumed)", [], [], "a participant asked before any decision existed", state.State.DecidedAt, 0)
            : new TransactionStatusView(TransactionId, "Unknown", "None", [], [], null, null, 0);
    }
}
