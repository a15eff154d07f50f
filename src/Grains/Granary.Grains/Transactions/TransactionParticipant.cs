using Granary.Errors;
using Microsoft.Extensions.Logging;
using Orleans.Serialization;

namespace Granary.Transactions;

/// <summary>
/// A transaction participant assembled from its parts: the protocol
/// (<see cref="ParticipantProtocol{TOperation}"/> over <see cref="ParticipantLedger"/>), the writer
/// that owns every state write (<see cref="ParticipantStateWriter{TState}"/>, group commit), the
/// cooperative-termination helper (<see cref="CooperativeTermination"/>: inquiries and 3PC
/// termination) and the TCC barrier (<see cref="SagaStepGuard"/>). A participant grain holds one and
/// answers <see cref="ITransactionParticipant"/> and <see cref="ISagaParticipant"/> through it; the
/// grain itself only says what it guards (<see cref="IParticipantGrainResource"/>). Every state
/// change is durable before the call that made it is answered.
/// </summary>
/// <typeparam name="TState">The grain's state.</typeparam>
public sealed class TransactionParticipant<TState>
    where TState : ParticipantState, new()
{
    private readonly IGrainBase _grain;
    private readonly IGrainFactory _grains;
    private readonly TimeProvider _time;
    private readonly TransactionOptions _options;
    private readonly IParticipantGrainResource _resource;
    private readonly ParticipantStateWriter<TState> _writer;
    private readonly CooperativeTermination _termination;
    private readonly SagaStepGuard _saga;
    private readonly ParticipantOutcomeTexts _outcomeTexts = new();
    private ParticipantProtocol<TxOperation>? _protocol;

    /// <summary>Assembles the participant of <paramref name="grain"/>.</summary>
    public TransactionParticipant(IGrainBase grain, IParticipantGrainResource resource, IPersistentState<TState> state, IGrainFactory grains, DeepCopier copier, TimeProvider time, TransactionOptions options, ILogger logger)
    {
        _grain = grain ?? throw new ArgumentNullException(nameof(grain));
        _resource = resource ?? throw new ArgumentNullException(nameof(resource));
        _grains = grains ?? throw new ArgumentNullException(nameof(grains));
        _time = time ?? throw new ArgumentNullException(nameof(time));
        _options = options ?? throw new ArgumentNullException(nameof(options));
        _writer = new ParticipantStateWriter<TState>(grain, state, copier, time, options, logger, () => resource.Describe);
        _termination = new CooperativeTermination(grain, grains, time, options, logger, resource, () => Protocol, () => _writer.State, _writer.WriteAsync);
        _saga = new SagaStepGuard(grain, grains, time, options, logger, resource, _writer.WriteAsync);
    }

    /// <summary>The state (in memory; persisted by <see cref="PersistAsync"/>).</summary>
    public TState State => _writer.State;

    /// <summary>Storage writes this activation started (each may hold the changes of several calls).</summary>
    public long StateWrites => _writer.Writes;

    /// <summary>Number of prepared transactions.</summary>
    public int PreparedCount => State.Reservations.Count;

    private ParticipantProtocol<TxOperation> Protocol => _protocol ?? throw new InvalidOperationException("the participant is not activated");

    /// <summary>Call from the grain's activation: restores the ledger and the barriers from the stored state and resumes what was in doubt (recovery of a participant whose silo died).</summary>
    public void Activate()
    {
        _writer.Load(Store);
        var state = _writer.State;
        var ledger = new ParticipantLedger(state.Outcomes.Select(ParticipantOutcomeCodec.Decode).Concat(ParticipantOutcomeCodec.DecodeBlock(state.OutcomeBlock)).Concat(state.Transactions.Select(r =>
            new ParticipantEntry(r.TransactionId, r.Fingerprint, (ParticipantStatus)r.Status, r.Since, r.LastInquiry, r.ThreePhaseTimeout))));
        _protocol = new ParticipantProtocol<TxOperation>(ledger, state.Reservations, _resource);
        _saga.Load(state, _time.GetUtcNow());
        _termination.Ensure();
    }

    /// <summary>Call from the grain's deactivation: writes outcomes still unsaved.</summary>
    public Task DeactivateAsync(DeactivationReason reason) => _writer.FlushOnDeactivateAsync(reason);

    /// <summary>Persists every change made so far (shared with the other callers waiting at that moment).</summary>
    public Task PersistAsync() => _writer.PersistAsync();

    /// <summary>Completes when every change made so far is durable: for answers that rest on earlier changes.</summary>
    public Task WhenDurableAsync() => _writer.DurableAsync();

    /// <summary>Throws when a write failed: memory is ahead of storage until the grain reloads.</summary>
    public void ThrowIfBroken() => _writer.ThrowIfBroken();

    /// <summary>Reservations of a given operation type.</summary>
    public IEnumerable<T> Reserved<T>()
        where T : TxOperation => State.Reservations.Values.OfType<T>();

    /// <summary><see cref="ITransactionParticipant.PrepareAsync"/>.</summary>
    public Task<PrepareResponse> PrepareAsync(string transactionId, TxOperation operation) => PrepareCoreAsync(transactionId, operation, null);

    /// <summary><see cref="ITransactionParticipant.CanCommitAsync"/>.</summary>
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
            _resource.OnThreePhaseVoted(transactionId);
        }

        return response;
    }

    /// <summary><see cref="ITransactionParticipant.PreCommitAsync"/>.</summary>
    public Task PreCommitAsync(string transactionId) => AnswerAsync(transactionId, p => p.PreCommit(transactionId, _time.GetUtcNow()));

    /// <summary><see cref="ITransactionParticipant.CommitAsync"/>.</summary>
    public Task CommitAsync(string transactionId) => AnswerAsync(transactionId, p => p.Commit(transactionId, _time.GetUtcNow()));

    /// <summary><see cref="ITransactionParticipant.AbortAsync"/>.</summary>
    public Task AbortAsync(string transactionId) => AnswerAsync(transactionId, p => p.Abort(transactionId, _time.GetUtcNow()));

    /// <summary><see cref="ITransactionParticipant.GetTransactionAsync"/>.</summary>
    public async Task<ParticipantTxView?> GetTransactionAsync(string transactionId)
    {
        ThrowIfUnreachable();
        ThrowIfBroken();
        var view = Protocol.Ledger.Find(transactionId) is { } e ? View(e) : null;
        await _writer.DurableAsync();
        return view;
    }

    /// <summary><see cref="ITransactionParticipant.GetTransactionsAsync"/>.</summary>
    public async Task<IReadOnlyList<ParticipantTxView>> GetTransactionsAsync()
    {
        ThrowIfBroken();
        var views = Protocol.Ledger.Entries.OrderBy(e => e.Since).Select(View).ToList();
        await _writer.DurableAsync();
        return views;
    }

    /// <summary><see cref="ITransactionParticipant.OpenAmongAsync"/>.</summary>
    public async Task<IReadOnlyList<string>> OpenAmongAsync(IReadOnlyList<string> transactionIds)
    {
        if (transactionIds is null || transactionIds.Count > Limits.MaxBatchSize)
        {
            throw new InvalidRequestException(nameof(transactionIds), $"must list at most {Limits.MaxBatchSize} transaction ids");
        }

        ThrowIfUnreachable();
        ThrowIfBroken();

        // Read first, then make durable every change made so far: outcomes are acknowledged before
        // they are written (OutcomeFlushDelay), and "not open" must never rest on an outcome a crash
        // could still take back. An outcome applied while the write is in flight (calls interleave)
        // is not in this answer: its transaction was read as open.
        var ledger = Protocol.Ledger;
        var open = transactionIds.Where(id => id is not null && ledger.Find(id) is { IsOpen: true }).Distinct(StringComparer.Ordinal).ToList();
        await _writer.OutcomesDurableAsync();
        return open;
    }

    /// <summary><see cref="ISagaParticipant.RunSagaActionAsync"/>.</summary>
    public Task<string?> RunSagaActionAsync(string stepKey, TxOperation operation)
    {
        Guard.Name(stepKey, nameof(stepKey));
        _resource.ValidateOperation(operation ?? throw new InvalidRequestException(nameof(operation), "must not be null"));
        ThrowIfBroken();
        return _saga.RunActionAsync(stepKey, operation);
    }

    /// <summary><see cref="ISagaParticipant.CompensateSagaActionAsync"/>.</summary>
    public Task<bool> CompensateSagaActionAsync(string stepKey, TxOperation operation)
    {
        Guard.Name(stepKey, nameof(stepKey));
        _resource.ValidateOperation(operation ?? throw new InvalidRequestException(nameof(operation), "must not be null"));
        ThrowIfBroken();
        return _saga.CompensateAsync(stepKey, operation);
    }

    private async Task AnswerAsync(string transactionId, Func<ParticipantProtocol<TxOperation>, ParticipantStep> message)
    {
        Guard.Name(transactionId, nameof(transactionId));
        ThrowIfUnreachable();
        ThrowIfBroken();
        var step = message(Protocol);
        if (step.Refusal is { } refusal)
        {
            throw new TransactionProtocolException(refusal);
        }

        await _writer.WriteAsync(step.Write);
    }

    private async Task<PrepareResponse> PrepareCoreAsync(string transactionId, TxOperation operation, ThreePhaseTerms? terms)
    {
        Guard.Name(transactionId, nameof(transactionId));
        _resource.ValidateOperation(operation ?? throw new InvalidRequestException(nameof(operation), "must not be null"));
        ThrowIfBroken();
        var step = Protocol.Prepare(transactionId, operation.Describe(), operation, _time.GetUtcNow(), PrepareDeadline.Current, terms?.Timeout);
        if (step.Result == PrepareResult.Conflict)
        {
            throw new TransactionConflictException(transactionId, step.Check!.Reason!);
        }

        if (step is { Result: PrepareResult.Granted, Write: ParticipantWrite.Persist } && terms is not null)
        {
            var self = _grain.GrainContext.GrainId;
            State.ThreePhasePeers[transactionId] = terms.Participants
                .Where(p => Participants.Transactional(_grains, p).GetGrainId() != self)
                .ToList();
        }

        await _writer.WriteAsync(step.Write);
        if (step is { Result: PrepareResult.Granted, Write: ParticipantWrite.Persist })
        {
            _termination.EnsureAfterPrepare(threePhase: terms is not null);
        }

        return step.Result switch
        {
            PrepareResult.Granted => step.Known is { } known ? PrepareResponse.Granted with { Known = known.ToString() } : PrepareResponse.Granted,
            PrepareResult.AlreadyAborted => new PrepareResponse(false, TransactionErrorCodes.Aborted, $"{_resource.Describe}: transaction already aborted here", nameof(ParticipantStatus.Aborted)),
            PrepareResult.Late => new PrepareResponse(false, TransactionErrorCodes.Aborted, step.Check!.Reason),
            PrepareResult.Missing => new PrepareResponse(false, ErrorCodes.NotFound, step.Check!.Reason),
            _ => new PrepareResponse(false, step.Check!.Code, step.Check.Reason),
        };
    }

    /// <summary>Brings the stored form of the ledger and the barriers up to date before a write.</summary>
    private void Store(DateTimeOffset now)
    {
        var ledger = Protocol.Ledger;
        var state = _writer.State;

        // Three-phase transactions carry no prepare deadline: they keep the whole retention.
        ledger.Prune(now, _options.OutcomeRetention, _options.MaxRememberedOutcomes, _options.OutcomeRetentionFloor, ParticipantProtocol<TxOperation>.IsThreePhase);
        state.Transactions = ledger.Entries.Where(e => e.IsOpen).Select(e => new ParticipantRecord
        {
            TransactionId = e.TransactionId,
            Fingerprint = e.Fingerprint,
            Status = (int)e.Status,
            Since = e.Since,
            LastInquiry = e.LastInquiry,
            ThreePhaseTimeout = e.ThreePhaseTimeout,
        }).ToList();
        state.OutcomeBlock = _outcomeTexts.EncodeBlock(ledger.Entries);
        if (state.Outcomes.Count > 0)
        {
            // Read from a row of the earlier form: now in the block.
            state.Outcomes = [];
        }
        if (state.ThreePhasePeers.Count > 0)
        {
            foreach (var id in state.ThreePhasePeers.Keys.Where(id => ledger.Find(id) is not { IsOpen: true }).ToList())
            {
                state.ThreePhasePeers.Remove(id);
            }
        }

        _saga.Store(state, now);
    }

    private void ThrowIfUnreachable()
    {
        if (_resource.Unreachable)
        {
            throw new GranaryException(TransactionErrorCodes.Unreachable, $"{_resource.Describe} is unreachable (simulated network partition)");
        }
    }

    private ParticipantTxView View(ParticipantEntry e) =>
        new(e.TransactionId, e.Status.ToString(), e.Since, State.Reservations.TryGetValue(e.TransactionId, out var op) ? op.Describe() : null);
}
