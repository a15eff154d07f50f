using Granary.Errors;
using Microsoft.Extensions.Logging;
using Microsoft.Extensions.Options;

namespace Granary.Transactions;

/// <summary>
/// Base of every participant grain: the two-phase commit participant protocol (over
/// <see cref="ParticipantLedger"/>), cooperative termination on a timer, and TCC-guarded saga steps
/// (over <see cref="TccBarrier"/>). Subclasses say what exists, what can be reserved and how an
/// operation is applied and undone. Every state change is persisted before the call returns; a
/// failed write deactivates the grain so the next call starts again from what is stored.
/// </summary>
public abstract class TransactionParticipantGrain<TState> : Grain, ITransactionParticipant, ISagaParticipant
    where TState : ParticipantState, new()
{
    private readonly IPersistentState<TState> _state;
    private ParticipantLedger _ledger = new();
    private TccBarrier _barrier = new();
    private IGrainTimer? _inquiryTimer;

    /// <summary>Creates the grain.</summary>
    protected TransactionParticipantGrain(IPersistentState<TState> state, TimeProvider time, IOptions<TransactionOptions> options, ILogger logger)
    {
        ArgumentNullException.ThrowIfNull(options);
        _state = state;
        Time = time;
        Options = options.Value;
        Logger = logger;
    }

    /// <summary>The persisted state.</summary>
    protected TState State => _state.State;

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
        _ledger = new ParticipantLedger(State.Transactions.Select(r =>
            new ParticipantEntry(r.TransactionId, r.Fingerprint, (ParticipantStatus)r.Status, r.Since, r.LastInquiry)));
        _barrier = new TccBarrier(State.SagaSteps.Select(kv => KeyValuePair.Create(kv.Key, (TccStepState)kv.Value)));
        // Recovery of a participant whose silo died: its prepared records come back with it and it
        // starts asking coordinators again.
        EnsureInquiryTimer();
        return base.OnActivateAsync(cancellationToken);
    }

    /// <inheritdoc/>
    public async Task<PrepareResponse> PrepareAsync(string transactionId, TxOperation operation)
    {
        Guard.Name(transactionId, nameof(transactionId));
        ValidateOperation(operation ?? throw new InvalidRequestException(nameof(operation), "must not be null"));
        var fingerprint = operation.Describe();
        switch (_ledger.CheckPrepare(transactionId, fingerprint))
        {
            case PrepareVerdict.AlreadyPrepared:
            case PrepareVerdict.AlreadyCommitted:
                return PrepareResponse.Granted;
            case PrepareVerdict.AlreadyAborted:
                return new PrepareResponse(false, TransactionErrorCodes.Aborted, $"{Describe}: transaction already aborted here");
            case PrepareVerdict.Conflict:
                throw new TransactionConflictException(transactionId, $"{Describe} prepared it as '{_ledger.Find(transactionId)!.Fingerprint}', not '{fingerprint}'");
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

        _ledger.RecordPrepared(transactionId, fingerprint, Time.GetUtcNow());
        State.Reservations[transactionId] = operation;
        await PersistAsync();
        EnsureInquiryTimer();
        return PrepareResponse.Granted;
    }

    /// <inheritdoc/>
    public async Task CommitAsync(string transactionId)
    {
        Guard.Name(transactionId, nameof(transactionId));
        if (await CommitLocallyAsync(transactionId) is { } refusal)
        {
            throw new TransactionProtocolException(refusal);
        }
    }

    /// <inheritdoc/>
    public async Task AbortAsync(string transactionId)
    {
        Guard.Name(transactionId, nameof(transactionId));
        if (await AbortLocallyAsync(transactionId) is { } refusal)
        {
            throw new TransactionProtocolException(refusal);
        }
    }

    /// <inheritdoc/>
    public Task<ParticipantTxView?> GetTransactionAsync(string transactionId) =>
        Task.FromResult(_ledger.Find(transactionId) is { } e ? View(e) : null);

    /// <inheritdoc/>
    public Task<IReadOnlyList<ParticipantTxView>> GetTransactionsAsync() =>
        Task.FromResult<IReadOnlyList<ParticipantTxView>>(_ledger.Entries.OrderBy(e => e.Since).Select(View).ToList());

    /// <inheritdoc/>
    public virtual async Task<string?> RunSagaActionAsync(string stepKey, TxOperation operation)
    {
        Guard.Name(stepKey, nameof(stepKey));
        ValidateOperation(operation ?? throw new InvalidRequestException(nameof(operation), "must not be null"));
        switch (_barrier.CheckAction(stepKey))
        {
            case TccActionVerdict.AlreadyDone:
                return null;
            case TccActionVerdict.RefusedAfterCompensation:
                return $"{Describe}: step {stepKey} was already compensated; the late action is refused";
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
        _barrier.ActionDone(stepKey);
        await PersistAsync();
        return null;
    }

    /// <inheritdoc/>
    public virtual async Task<bool> CompensateSagaActionAsync(string stepKey, TxOperation operation)
    {
        Guard.Name(stepKey, nameof(stepKey));
        ValidateOperation(operation ?? throw new InvalidRequestException(nameof(operation), "must not be null"));
        switch (_barrier.CheckCompensation(stepKey))
        {
            case TccCompensationVerdict.Run:
                Undo(operation);
                _barrier.Compensated(stepKey);
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

    /// <summary>Hook: a compensation arrived without its action.</summary>
    protected virtual void OnEmptyCompensation(string stepKey, TxOperation operation)
    {
    }

    /// <summary>Reservations of a given operation type.</summary>
    protected IEnumerable<T> Reserved<T>()
        where T : TxOperation => State.Reservations.Values.OfType<T>();

    /// <summary>Persists the state (ledger and barriers included); on failure deactivates and rethrows.</summary>
    protected async Task PersistAsync()
    {
        var now = Time.GetUtcNow();
        _ledger.Prune(now, Options.OutcomeRetention, Options.MaxRememberedOutcomes);
        State.Transactions = _ledger.Entries.Select(e => new ParticipantRecord
        {
            TransactionId = e.TransactionId,
            Fingerprint = e.Fingerprint,
            Status = (int)e.Status,
            Since = e.Since,
            LastInquiry = e.LastInquiry,
        }).ToList();
        State.SagaSteps = _barrier.Steps.ToDictionary(kv => kv.Key, kv => (int)kv.Value, StringComparer.Ordinal);
        try
        {
            await _state.WriteStateAsync();
        }
        catch
        {
            // Memory is now ahead of storage: start again from storage on the next call.
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

                await PersistAsync();
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
                await PersistAsync();
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

    private ParticipantTxView View(ParticipantEntry e) =>
        new(e.TransactionId, e.Status.ToString(), e.Since, State.Reservations.TryGetValue(e.TransactionId, out var op) ? op.Describe() : null);
}
