using Granary.Durability;
using Granary.Errors;
using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.Logging;
using Microsoft.Extensions.Options;
using Orleans.Serialization;

namespace Granary.Transactions;

/// <summary>
/// Base of every participant grain: the two-phase commit participant protocol (over
/// <see cref="ParticipantLedger"/>), cooperative termination on a timer, and TCC-guarded saga steps
/// (over <see cref="TccBarrier"/>). Subclasses say what exists, what can be reserved and how an
/// operation is applied and undone. Every state change is persisted before the call returns; a
/// failed write deactivates the grain so the next call starts again from what is stored.
/// <para>
/// Group commit: prepare, commit and abort interleave (<c>[AlwaysInterleave]</c> on
/// <see cref="ITransactionParticipant"/>), so concurrent transactions on one participant change its
/// state in memory, each atomically (no await between its checks and its change), and share one
/// write through a <see cref="GroupCommit"/>. A caller is answered only after a write that
/// started after its change is durable, and an answer that rests on earlier changes (a duplicate
/// prepare, a status read) waits until those are durable. Each write stores a copy of the state
/// taken before it starts, so calls that interleave with the write never change what is being
/// stored. A failed write fails every caller waiting on it and every later call until the grain has
/// reloaded from storage, so no vote is ever given for a hold that is not durable.
/// </para>
/// </summary>
public abstract class TransactionParticipantGrain<TState> : Grain, ITransactionParticipant, ISagaParticipant
    where TState : ParticipantState, new()
{
    private const string ThreePhasePrefix = "3pc ";
    private readonly IPersistentState<TState> _state;
    private readonly GroupCommit _gate;
    private DeepCopier? _copier;
    private TState _live;
    private ParticipantLedger _ledger = new();
    private TccBarrier _barrier = new();
    private IGrainTimer? _inquiryTimer;
    private IGrainTimer? _terminationTimer;
    private IGrainTimer? _flushTimer;
    private IGrainTimer? _sagaTimer;
    private bool _outcomeUnsaved;
    private TimeSpan _terminationPeriod;

    /// <summary>Creates the grain.</summary>
    protected TransactionParticipantGrain(IPersistentState<TState> state, TimeProvider time, IOptions<TransactionOptions> options, ILogger logger)
    {
        ArgumentNullException.ThrowIfNull(options);
        ArgumentNullException.ThrowIfNull(state);
        _state = state;
        _live = state.State;
        _gate = new GroupCommit(WriteSnapshotAsync, GroupCommitFailureMode.Sticky);
        Time = time;
        Options = options.Value;
        Logger = logger;
    }

    /// <summary>The state (in memory; persisted by <see cref="PersistAsync"/>).</summary>
    protected TState State => _live;

    /// <summary>Storage writes this activation started (each may hold the changes of several calls).</summary>
    protected long StateWrites => _gate.Writes;

    /// <summary>Clock.</summary>
    protected TimeProvider Time { get; }

    /// <summary>Options.</summary>
    protected TransactionOptions Options { get; }

    /// <summary>Logger.</summary>
    protected ILogger Logger { get; }

    /// <summary>Key for messages.</summary>
    protected abstract string Describe { get; }

    /// <summary>Number of prepared transactions.</summary>
    protected int PreparedCount => State.Reservations.Count;

    /// <inheritdoc/>
    public override Task OnActivateAsync(CancellationToken cancellationToken)
    {
        // The stored state is loaded by now; from here on it is the working copy, and every write
        // stores a fresh copy of it (see WriteSnapshotAsync).
        _live = _state.State;
        _copier = ServiceProvider.GetRequiredService<DeepCopier>();
        _ledger = new ParticipantLedger(State.Outcomes.Select(ParticipantOutcomeCodec.Decode).Concat(State.Transactions.Select(r =>
            new ParticipantEntry(r.TransactionId, r.Fingerprint, (ParticipantStatus)r.Status, r.Since, r.LastInquiry, r.ThreePhaseTimeout))));
        // Rows written before steps carried their time and saga: dated now, the saga read from the key.
        var loaded = Time.GetUtcNow();
        _barrier = new TccBarrier(State.SagaBarriers.Select(TccStepCodec.Decode).Concat(State.SagaSteps.Select(kv =>
            KeyValuePair.Create(kv.Key, new TccStep((TccStepState)kv.Value, loaded, TccBarrier.SagaIdOfLegacyKey(kv.Key))))));
        // Recovery of a participant whose silo died: its prepared records come back with it and it
        // starts asking coordinators again.
        EnsureInquiryTimer();
        EnsureTerminationTimer();
        EnsureSagaTimer();
        return base.OnActivateAsync(cancellationToken);
    }

    /// <inheritdoc/>
    public override async Task OnDeactivateAsync(DeactivationReason reason, CancellationToken cancellationToken)
    {
        // Not while the silo shuts down (storage may already be gone): the stored prepared records
        // resolve by inquiry on the next activation.
        if (_outcomeUnsaved && _gate.Failure is null && reason.ReasonCode != DeactivationReasonCode.ShuttingDown)
        {
            try
            {
                await PersistAsync();
            }
            catch (Exception ex) when (ex is not OutOfMemoryException)
            {
                // The prepared records are still stored: the next activation asks the coordinators.
                TransactionLog.LogDebugInquiryFailed(Logger, Describe, "(outcome flush on deactivation)", ex.Message);
            }
        }

        await base.OnDeactivateAsync(reason, cancellationToken);
    }

    /// <inheritdoc/>
    public Task<PrepareResponse> PrepareAsync(string transactionId, TxOperation operation) =>
        PrepareCoreAsync(transactionId, operation, null);

    /// <inheritdoc/>
    public async Task<PrepareResponse> CanCommitAsync(string transactionId, TxOperation operation, ThreePhaseTerms terms)
    {
        if (terms?.Participants is null)
        {
            throw new InvalidRequestException(nameof(terms), "must name the participants and the timeout");
        }

        Participants.Validate(terms.Participants, "terms.participants");
        if (terms.Timeout < Limits.Transactions.MinThreePhaseTimeout || terms.Timeout > Limits.Transactions.MaxThreePhaseTimeout)
        {
            throw new InvalidRequestException("terms.timeout", $"must be between {Limits.Transactions.MinThreePhaseTimeout} and {Limits.Transactions.MaxThreePhaseTimeout}");
        }

        var response = await PrepareCoreAsync(transactionId, operation, terms);
        if (response.Yes)
        {
            OnThreePhaseVoted(transactionId);
        }

        return response;
    }

    /// <inheritdoc/>
    public async Task PreCommitAsync(string transactionId)
    {
        Guard.Name(transactionId, nameof(transactionId));
        ThrowIfUnreachable();
        ThrowIfBroken();
        switch (_ledger.PreCommit(transactionId, Time.GetUtcNow()))
        {
            case PreCommitVerdict.Apply:
                await PersistAsync();
                return;
            case PreCommitVerdict.AlreadyPreCommitted:
            case PreCommitVerdict.AlreadyCommitted:
                await _gate.DurableAsync();
                return;
            case PreCommitVerdict.RefusedAborted:
                throw new TransactionProtocolException($"{Describe}: pre-commit of '{transactionId}' refused: it was aborted here");
            case PreCommitVerdict.RefusedTwoPhase:
                throw new TransactionProtocolException($"{Describe}: pre-commit of '{transactionId}' refused: it is a two-phase commit transaction");
            default:
                throw new TransactionProtocolException($"{Describe}: pre-commit of '{transactionId}' refused: it never voted here");
        }
    }

    private async Task<PrepareResponse> PrepareCoreAsync(string transactionId, TxOperation operation, ThreePhaseTerms? terms)
    {
        Guard.Name(transactionId, nameof(transactionId));
        ValidateOperation(operation ?? throw new InvalidRequestException(nameof(operation), "must not be null"));
        ThrowIfBroken();

        // The protocol is part of the content: the same id under the other protocol is a conflict.
        var fingerprint = terms is null ? operation.Describe() : ThreePhasePrefix + operation.Describe();
        switch (_ledger.CheckPrepare(transactionId, fingerprint))
        {
            case PrepareVerdict.AlreadyPrepared:
            case PrepareVerdict.AlreadyCommitted:
                // The first prepare's write may still be in flight: vote yes only once it is durable.
                var known = _ledger.Find(transactionId)!.Status.ToString();
                await _gate.DurableAsync();
                return PrepareResponse.Granted with { Known = known };
            case PrepareVerdict.AlreadyAborted:
                await _gate.DurableAsync();
                return new PrepareResponse(false, TransactionErrorCodes.Aborted, $"{Describe}: transaction already aborted here", nameof(ParticipantStatus.Aborted));
            case PrepareVerdict.Conflict:
                throw new TransactionConflictException(transactionId, $"{Describe} prepared it as '{_ledger.Find(transactionId)!.Fingerprint}', not '{fingerprint}'");
        }

        // Its coordinator stopped waiting for this vote (and may have finished the transaction, which
        // this participant may already have forgotten): reserving now could apply it twice.
        if (terms is null && PrepareDeadline.Current is { } deadline && Time.GetUtcNow() > deadline)
        {
            return new PrepareResponse(false, TransactionErrorCodes.Aborted, $"{Describe}: prepare of '{transactionId}' arrived after its deadline {deadline:O}");
        }

        if (Missing() is { } missing)
        {
            // Nothing is stored for something that does not exist.
            return new PrepareResponse(false, ErrorCodes.NotFound, missing);
        }

        var verdict = CanReserve(operation);
        if (!verdict.Yes)
        {
            _ledger.RecordRefused(transactionId, fingerprint, Time.GetUtcNow());
            await PersistAsync();
            return verdict;
        }

        _ledger.RecordPrepared(transactionId, fingerprint, Time.GetUtcNow(), terms?.Timeout);
        State.Reservations[transactionId] = operation;
        if (terms is not null)
        {
            var self = this.GetGrainId();
            State.ThreePhasePeers[transactionId] = terms.Participants
                .Where(p => Participants.Transactional(GrainFactory, p).GetGrainId() != self)
                .ToList();
        }

        await PersistAsync();
        if (terms is null)
        {
            EnsureInquiryTimer();
        }
        else
        {
            EnsureTerminationTimer();
        }

        return PrepareResponse.Granted;
    }

    /// <inheritdoc/>
    public async Task CommitAsync(string transactionId)
    {
        Guard.Name(transactionId, nameof(transactionId));
        ThrowIfUnreachable();
        ThrowIfBroken();
        if (await CommitLocallyAsync(transactionId) is { } refusal)
        {
            throw new TransactionProtocolException(refusal);
        }
    }

    /// <inheritdoc/>
    public async Task AbortAsync(string transactionId)
    {
        Guard.Name(transactionId, nameof(transactionId));
        ThrowIfUnreachable();
        ThrowIfBroken();
        if (await AbortLocallyAsync(transactionId) is { } refusal)
        {
            throw new TransactionProtocolException(refusal);
        }
    }

    /// <inheritdoc/>
    public async Task<ParticipantTxView?> GetTransactionAsync(string transactionId)
    {
        ThrowIfUnreachable();
        ThrowIfBroken();
        var view = _ledger.Find(transactionId) is { } e ? View(e) : null;
        await _gate.DurableAsync();
        return view;
    }

    /// <inheritdoc/>
    public async Task<IReadOnlyList<ParticipantTxView>> GetTransactionsAsync()
    {
        ThrowIfBroken();
        var views = _ledger.Entries.OrderBy(e => e.Since).Select(View).ToList();
        await _gate.DurableAsync();
        return views;
    }

    /// <inheritdoc/>
    public virtual async Task<string?> RunSagaActionAsync(string stepKey, TxOperation operation)
    {
        Guard.Name(stepKey, nameof(stepKey));
        ValidateOperation(operation ?? throw new InvalidRequestException(nameof(operation), "must not be null"));
        ThrowIfBroken();
        switch (_barrier.CheckAction(stepKey))
        {
            case TccActionVerdict.AlreadyDone:
                await _gate.DurableAsync();
                return null;
            case TccActionVerdict.RefusedAfterCompensation:
                await _gate.DurableAsync();
                return $"{Describe}: step {stepKey} was already compensated; the late action is refused";
        }

        // Its saga stopped waiting for this copy (and may have compensated the step, which this
        // participant may already have forgotten): running it now could apply it after its compensation.
        if (PrepareDeadline.Current is { } deadline && Time.GetUtcNow() > deadline)
        {
            throw new TransactionProtocolException($"{Describe}: action of step {stepKey} arrived after its deadline {deadline:O}; retry");
        }

        if (Missing() is { } missing)
        {
            return missing;
        }

        var verdict = CanReserve(operation);
        if (!verdict.Yes)
        {
            return verdict.Reason;
        }

        Apply(operation);
        _barrier.ActionDone(stepKey, Time.GetUtcNow(), SagaOrigin.Current);
        await PersistAsync();
        EnsureSagaTimer();
        return null;
    }

    /// <inheritdoc/>
    public virtual async Task<bool> CompensateSagaActionAsync(string stepKey, TxOperation operation)
    {
        Guard.Name(stepKey, nameof(stepKey));
        ValidateOperation(operation ?? throw new InvalidRequestException(nameof(operation), "must not be null"));
        ThrowIfBroken();
        switch (_barrier.CheckCompensation(stepKey, Time.GetUtcNow(), SagaOrigin.Current))
        {
            case TccCompensationVerdict.Run:
                Undo(operation);
                _barrier.Compensated(stepKey, Time.GetUtcNow());
                await PersistAsync();
                return true;
            case TccCompensationVerdict.NoOpWithoutAction:
                OnEmptyCompensation(stepKey, operation);
                if (Missing() is null)
                {
                    // The barrier must be durable: it is what refuses the action if it arrives late.
                    await PersistAsync();
                }

                return false;
            default:
                await _gate.DurableAsync();
                return false;
        }
    }

    /// <summary>Null when the participant exists, else why not (e.g. "account 'x' does not exist").</summary>
    protected abstract string? Missing();

    /// <summary>Throws <see cref="InvalidRequestException"/> for an operation this participant does not take or with bad arguments.</summary>
    protected abstract void ValidateOperation(TxOperation operation);

    /// <summary>Whether the operation can be reserved on top of the existing reservations.</summary>
    protected abstract PrepareResponse CanReserve(TxOperation operation);

    /// <summary>Applies an operation (commit, or saga action).</summary>
    protected abstract void Apply(TxOperation operation);

    /// <summary>Undoes an applied operation (saga compensation); throws when it cannot.</summary>
    protected abstract void Undo(TxOperation operation);

    /// <summary>Hook: a transaction committed or aborted here.</summary>
    protected virtual void OnResolved(string transactionId, ParticipantStatus status)
    {
    }

    /// <summary>Hook: this participant just voted yes in a three-phase commit.</summary>
    protected virtual void OnThreePhaseVoted(string transactionId)
    {
    }

    /// <summary>Simulated partition (fault injection): while true, protocol messages to this participant fail and it cannot reach its peers.</summary>
    protected virtual bool Unreachable => false;

    /// <summary>Hook: a compensation arrived without its action.</summary>
    protected virtual void OnEmptyCompensation(string stepKey, TxOperation operation)
    {
    }

    /// <summary>Reservations of a given operation type.</summary>
    protected IEnumerable<T> Reserved<T>()
        where T : TxOperation => State.Reservations.Values.OfType<T>();

    /// <summary>
    /// Persists the state (ledger and barriers included): completes once a write that holds every
    /// change made so far is durable (shared with the other callers waiting at that moment). On
    /// failure the grain deactivates and this and every later call fails until it has reloaded.
    /// </summary>
    protected Task PersistAsync() => _gate.CommitAsync();

    /// <summary>Completes when every change made so far is durable (at once when none is pending): for answers that rest on earlier changes.</summary>
    protected Task WhenDurableAsync() => _gate.DurableAsync();

    /// <summary>Throws when a write failed: memory is ahead of storage until the grain reloads.</summary>
    protected void ThrowIfBroken()
    {
        if (_gate.Failure is { } failure)
        {
            throw new ServiceUnavailableException($"{Describe}: a state write failed ({failure.GetType().Name}); reloading from storage, retry");
        }
    }

    private static bool IsThreePhaseEntry(ParticipantEntry entry) => entry.Fingerprint.StartsWith(ThreePhasePrefix, StringComparison.Ordinal);

    private async Task WriteSnapshotAsync()
    {
        var now = Time.GetUtcNow();
        // Three-phase transactions carry no prepare deadline: they keep the whole retention.
        _ledger.Prune(now, Options.OutcomeRetention, Options.MaxRememberedOutcomes, Options.OutcomeRetentionFloor, IsThreePhaseEntry);
        State.Transactions = _ledger.Entries.Where(e => e.IsOpen).Select(e => new ParticipantRecord
        {
            TransactionId = e.TransactionId,
            Fingerprint = e.Fingerprint,
            Status = (int)e.Status,
            Since = e.Since,
            LastInquiry = e.LastInquiry,
            ThreePhaseTimeout = e.ThreePhaseTimeout,
        }).ToList();
        State.Outcomes = _ledger.Entries.Where(e => !e.IsOpen).Select(ParticipantOutcomeCodec.Encode).ToList();
        foreach (var id in State.ThreePhasePeers.Keys.Where(id => _ledger.Find(id) is not { IsOpen: true }).ToList())
        {
            State.ThreePhasePeers.Remove(id);
        }
        _barrier.Prune(now, Options.SagaStepWindow, Options.OutcomeRetention);
        State.SagaBarriers = _barrier.Steps.Select(kv => TccStepCodec.Encode(kv.Key, kv.Value)).ToList();
        State.SagaSteps = new(StringComparer.Ordinal);
        _outcomeUnsaved = false;

        // Calls interleave while the write is in flight: it stores a copy taken now, so they can
        // neither change what is being stored nor see their change counted as durable too early.
        _state.State = _copier is { } copier ? copier.Copy(_live) : _live;
        try
        {
            await _state.WriteStateAsync();
        }
        catch (Exception ex)
        {
            // Memory is now ahead of storage: start again from storage on the next activation.
            // Any exception: the gate fails every later call until then, so an activation that
            // did not deactivate here would refuse calls for as long as they keep it alive.
            TransactionLog.LogWarningParticipantWriteFailed(Logger, Describe, ex.Message);
            DeactivateOnIdle();
            throw;
        }
    }

    private async Task<string?> CommitLocallyAsync(string transactionId)
    {
        switch (_ledger.Commit(transactionId, Time.GetUtcNow()))
        {
            case CommitVerdict.Apply:
                if (State.Reservations.Remove(transactionId, out var operation))
                {
                    Apply(operation);
                }

                OnResolved(transactionId, ParticipantStatus.Committed);
                await PersistOutcomeAsync();
                return null;
            case CommitVerdict.AlreadyCommitted:
                return null;
            case CommitVerdict.RefusedAborted:
                return $"{Describe}: commit of '{transactionId}' refused: it was aborted here";
            default:
                return $"{Describe}: commit of '{transactionId}' refused: it was never prepared here";
        }
    }

    private async Task<string?> AbortLocallyAsync(string transactionId)
    {
        switch (_ledger.Abort(transactionId, Time.GetUtcNow()))
        {
            case AbortVerdict.Release:
                State.Reservations.Remove(transactionId);
                OnResolved(transactionId, ParticipantStatus.Aborted);
                await PersistOutcomeAsync();
                return null;
            case AbortVerdict.RecordedUnknown:
                if (Missing() is null)
                {
                    await PersistAsync();
                }
                else
                {
                    // Nothing is remembered for something that does not exist.
                    _ledger.Forget(transactionId);
                }

                return null;
            case AbortVerdict.AlreadyAborted:
                return null;
            default:
                return $"{Describe}: abort of '{transactionId}' refused: it was committed here";
        }
    }

    private void EnsureInquiryTimer()
    {
        if (_inquiryTimer is null && State.Reservations.Count > 0)
        {
            _inquiryTimer = this.RegisterGrainTimer(
                InquireAsync,
                new GrainTimerCreationOptions(Options.InquiryInterval, Options.InquiryInterval) { KeepAlive = true });
        }
    }

    /// <summary>Cooperative termination: ask the coordinator of every transaction prepared too long.</summary>
    private async Task InquireAsync(CancellationToken cancellationToken)
    {
        var now = Time.GetUtcNow();
        foreach (var transactionId in _ledger.DueForInquiry(now, Options.PreparedTimeout, Options.InquiryInterval).Take(32))
        {
            TxInquiryAnswer answer;
            try
            {
                answer = await GrainFactory.GetGrain<ITwoPhaseCommitCoordinatorGrain>(transactionId).InquireAsync().WaitAsync(Options.CallTimeout, Time, cancellationToken);
            }
            catch (Exception ex) when (ex is not OperationCanceledException)
            {
                TransactionLog.LogDebugInquiryFailed(Logger, Describe, transactionId, ex.Message);
                _ledger.MarkInquired(transactionId, Time.GetUtcNow());
                continue;
            }

            switch (answer)
            {
                case TxInquiryAnswer.Committed:
                    await CommitLocallyAsync(transactionId);
                    break;
                case TxInquiryAnswer.Aborted:
                case TxInquiryAnswer.Unknown:
                    await AbortLocallyAsync(transactionId);
                    break;
                default:
                    _ledger.MarkInquired(transactionId, Time.GetUtcNow());
                    continue;
            }

            TransactionLog.LogInformationResolvedByInquiry(Logger, Describe, transactionId, answer.ToString());
        }

        if (State.Reservations.Count == 0 && _inquiryTimer is not null)
        {
            _inquiryTimer.Dispose();
            _inquiryTimer = null;
        }
    }

    /// <summary>
    /// Persists a commit or abort. With <see cref="TransactionOptions.OutcomeFlushDelay"/> above zero the
    /// outcome is applied in memory and acknowledged at once, and written with the participant's next
    /// write, at the latest after the delay or on deactivation (group commit). This is safe because the
    /// outcome is already durable elsewhere: the prepared record is on disk, and the decision that
    /// produced this outcome is on disk at its coordinator (2PC keeps its outcome record; 3PC
    /// pre-commit is durable at every participant). A participant that dies before the write reloads
    /// the transaction as prepared and resolves it again by inquiry or termination, exactly as after
    /// a crash between prepare and commit.
    /// </summary>
    private async Task PersistOutcomeAsync()
    {
        if (Options.OutcomeFlushDelay <= TimeSpan.Zero)
        {
            await PersistAsync();
            return;
        }

        _outcomeUnsaved = true;
        _flushTimer ??= this.RegisterGrainTimer(
            FlushOutcomesAsync,
            new GrainTimerCreationOptions(Options.OutcomeFlushDelay, System.Threading.Timeout.InfiniteTimeSpan) { KeepAlive = true });
    }

    private async Task FlushOutcomesAsync(CancellationToken cancellationToken)
    {
        _flushTimer?.Dispose();
        _flushTimer = null;
        if (_outcomeUnsaved)
        {
            await PersistAsync();
        }
    }

    /// <summary>While saga steps are remembered for sagas that may still send them, asks those sagas now and then whether they have finished.</summary>
    private void EnsureSagaTimer()
    {
        if (_sagaTimer is null && _barrier.AwaitsSagas)
        {
            // Not kept alive by it: an idle participant may be collected, its stored steps are asked about again on the next activation.
            _sagaTimer = this.RegisterGrainTimer(
                AskSagasAsync,
                new GrainTimerCreationOptions(Options.InquiryInterval, Options.InquiryInterval) { KeepAlive = false });
        }
    }

    /// <summary>
    /// Asks each saga whose steps here are done (and old enough) whether it has finished. A finished
    /// saga (or one with no record: no saga grain can send its steps) sends nothing more for them, so
    /// they are released and dropped a <see cref="TransactionOptions.SagaStepWindow"/> later; an
    /// unfinished one is asked again later, backing off up to <see cref="TransactionOptions.OutcomeRetention"/>.
    /// </summary>
    private async Task AskSagasAsync(CancellationToken cancellationToken)
    {
        var window = Options.SagaStepWindow;
        var due = _barrier.DueForInquiry(Time.GetUtcNow(), window, 32);
        var answers = await Task.WhenAll(due.Select(async sagaId =>
        {
            try
            {
                var view = await GrainFactory.GetGrain<ISagaGrain>(sagaId).GetAsync().WaitAsync(Options.CallTimeout, Time, cancellationToken);
                return (SagaId: sagaId, Finished: view.Status is nameof(SagaStatus.Completed) or nameof(SagaStatus.Compensated) or "Unknown");
            }
            catch (Exception ex) when (ex is not OperationCanceledException)
            {
                TransactionLog.LogDebugInquiryFailed(Logger, Describe, "saga " + sagaId, ex.Message);
                return (SagaId: sagaId, Finished: false);
            }
        }));
        foreach (var (sagaId, finished) in answers)
        {
            if (finished)
            {
                // Written with the participant's next write; a reactivation before that asks again.
                _barrier.SagaFinished(sagaId, Time.GetUtcNow());
            }
            else
            {
                _barrier.SagaPending(sagaId, Time.GetUtcNow(), window, Options.OutcomeRetention);
            }
        }

        if (!_barrier.AwaitsSagas)
        {
            _sagaTimer?.Dispose();
            _sagaTimer = null;
        }
    }

    private void ThrowIfUnreachable()
    {
        if (Unreachable)
        {
            throw new GranaryException(TransactionErrorCodes.Unreachable, $"{Describe} is unreachable (simulated network partition)");
        }
    }

    private void EnsureTerminationTimer()
    {
        var open = _ledger.Prepared.Where(e => e.IsThreePhase).ToList();
        if (open.Count == 0)
        {
            _terminationTimer?.Dispose();
            _terminationTimer = null;
            return;
        }

        // Check often enough that a timeout is acted on within a quarter of itself.
        var period = TimeSpan.FromTicks(Math.Max(TimeSpan.FromMilliseconds(50).Ticks, open.Min(e => e.ThreePhaseTimeout!.Value.Ticks) / 4));
        if (_terminationTimer is not null && period >= _terminationPeriod)
        {
            return;
        }

        _terminationTimer?.Dispose();
        _terminationPeriod = period;
        _terminationTimer = this.RegisterGrainTimer(
            TerminateAsync,
            new GrainTimerCreationOptions(period, period) { KeepAlive = true });
    }

    /// <summary>Three-phase commit termination: decide alone on every transaction whose timeout expired.</summary>
    private async Task TerminateAsync(CancellationToken cancellationToken)
    {
        foreach (var entry in _ledger.DueForTermination(Time.GetUtcNow()).Take(32))
        {
            var peers = State.ThreePhasePeers.GetValueOrDefault(entry.TransactionId) ?? [];
            var statuses = new List<ParticipantStatus?>();
            var unreachable = 0;
            if (entry.Status == ParticipantStatus.Prepared)
            {
                var timeout = entry.ThreePhaseTimeout!.Value;
                var answers = await Task.WhenAll(peers.Select(async p =>
                {
                    if (Unreachable)
                    {
                        return (Reached: false, Status: (ParticipantStatus?)null);
                    }

                    try
                    {
                        var view = await Participants.Transactional(GrainFactory, p).GetTransactionAsync(entry.TransactionId).WaitAsync(Min(Options.CallTimeout, timeout), Time, cancellationToken);
                        return (Reached: true, Status: view is null ? null : Enum.Parse<ParticipantStatus>(view.Status));
                    }
                    catch (Exception ex) when (ex is not OperationCanceledException)
                    {
                        TransactionLog.LogDebugInquiryFailed(Logger, Describe, entry.TransactionId, ex.Message);
                        return (Reached: false, Status: null);
                    }
                }));
                statuses.AddRange(answers.Where(a => a.Reached).Select(a => a.Status));
                unreachable = answers.Count(a => !a.Reached);
            }

            // A peer silent for a second full timeout is presumed crashed (the no-partition assumption).
            var presumeCrashed = Time.GetUtcNow() - entry.Since >= 2 * entry.ThreePhaseTimeout!.Value;
            var decision = ThreePhaseTermination.Decide(entry.Status, statuses, unreachable, presumeCrashed);
            switch (decision)
            {
                case TerminationDecision.Commit:
                    await CommitLocallyAsync(entry.TransactionId);
                    break;
                case TerminationDecision.Abort:
                    await AbortLocallyAsync(entry.TransactionId);

                    // Tell the peers that have not decided, so that one that never got can-commit refuses it if it comes late.
                    foreach (var p in Unreachable ? [] : peers)
                    {
                        _ = Participants.Transactional(GrainFactory, p).AbortAsync(entry.TransactionId).ContinueWith(t => t.Exception, TaskScheduler.Default);
                    }

                    break;
                default:
                    _ledger.MarkInquired(entry.TransactionId, Time.GetUtcNow());
                    continue;
            }

            TransactionLog.LogInformationTerminated(Logger, Describe, entry.TransactionId, entry.Status.ToString(), decision.ToString(), statuses.Count, unreachable);
        }

        EnsureTerminationTimer();
    }

    private static TimeSpan Min(TimeSpan a, TimeSpan b) => a < b ? a : b;

    private ParticipantTxView View(ParticipantEntry e) =>
        new(e.TransactionId, e.Status.ToString(), e.Since, State.Reservations.TryGetValue(e.TransactionId, out var op) ? op.Describe() : null);
}
