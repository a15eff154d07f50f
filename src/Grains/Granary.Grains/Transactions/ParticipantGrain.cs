using Microsoft.Extensions.Logging;
using Microsoft.Extensions.Options;
using Orleans.Serialization;

namespace Granary.Transactions;

/// <summary>
/// Orleans plumbing shared by the participant grains, and nothing else: it holds the grain's
/// <see cref="TransactionParticipant{TState}"/>, forwards <see cref="ITransactionParticipant"/> and
/// <see cref="ISagaParticipant"/> to it and calls it on activation and deactivation. The protocol,
/// the writes, cooperative termination and the TCC barrier live in the participant's parts; a
/// concrete grain (sealed) only says what it guards (<see cref="IParticipantGrainResource"/>).
/// </summary>
/// <typeparam name="TState">The grain's state.</typeparam>
public abstract class ParticipantGrain<TState> : Grain, ITransactionParticipant, ISagaParticipant, IParticipantGrainResource
    where TState : ParticipantState, new()
{
    /// <summary>Assembles the grain's participant.</summary>
    protected ParticipantGrain(IPersistentState<TState> state, IGrainFactory grains, DeepCopier copier, TimeProvider time, IOptions<TransactionOptions> options, ILogger logger)
    {
        ArgumentNullException.ThrowIfNull(options);
        Participant = new TransactionParticipant<TState>(this, this, state, grains, copier, time, options.Value, logger);
    }

    /// <inheritdoc/>
    public abstract string Describe { get; }

    /// <summary>The participant: state, writes, protocol.</summary>
    protected TransactionParticipant<TState> Participant { get; }

    /// <summary>The state (in memory; persisted by <see cref="TransactionParticipant{TState}.PersistAsync"/>).</summary>
    protected TState State => Participant.State;

    /// <inheritdoc/>
    public override Task OnActivateAsync(CancellationToken cancellationToken)
    {
        Participant.Activate();
        return base.OnActivateAsync(cancellationToken);
    }

    /// <inheritdoc/>
    public override async Task OnDeactivateAsync(DeactivationReason reason, CancellationToken cancellationToken)
    {
        await Participant.DeactivateAsync(reason);
        await base.OnDeactivateAsync(reason, cancellationToken);
    }

    /// <inheritdoc/>
    public Task<PrepareResponse> PrepareAsync(string transactionId, TxOperation operation) => Participant.PrepareAsync(transactionId, operation);

    /// <inheritdoc/>
    public Task<PrepareResponse> CanCommitAsync(string transactionId, TxOperation operation, ThreePhaseTerms terms) => Participant.CanCommitAsync(transactionId, operation, terms);

    /// <inheritdoc/>
    public Task PreCommitAsync(string transactionId) => Participant.PreCommitAsync(transactionId);

    /// <inheritdoc/>
    public Task CommitAsync(string transactionId) => Participant.CommitAsync(transactionId);

    /// <inheritdoc/>
    public Task AbortAsync(string transactionId) => Participant.AbortAsync(transactionId);

    /// <inheritdoc/>
    public Task<ParticipantTxView?> GetTransactionAsync(string transactionId) => Participant.GetTransactionAsync(transactionId);

    /// <inheritdoc/>
    public Task<IReadOnlyList<ParticipantTxView>> GetTransactionsAsync() => Participant.GetTransactionsAsync();

    /// <inheritdoc/>
    public Task<IReadOnlyList<string>> OpenAmongAsync(IReadOnlyList<string> transactionIds) => Participant.OpenAmongAsync(transactionIds);

    /// <inheritdoc/>
    public virtual Task<string?> RunSagaActionAsync(string stepKey, TxOperation operation) => Participant.RunSagaActionAsync(stepKey, operation);

    /// <inheritdoc/>
    public virtual Task<bool> CompensateSagaActionAsync(string stepKey, TxOperation operation) => Participant.CompensateSagaActionAsync(stepKey, operation);

    /// <inheritdoc/>
    public abstract string? Missing();

    /// <inheritdoc/>
    public abstract ReserveCheck CanReserve(TxOperation operation);

    /// <inheritdoc/>
    public abstract void Apply(TxOperation operation);

    /// <inheritdoc/>
    public abstract void Undo(TxOperation operation);

    /// <inheritdoc/>
    public abstract void ValidateOperation(TxOperation operation);

    /// <inheritdoc/>
    public virtual bool Unreachable => false;

    /// <inheritdoc/>
    public virtual void OnResolved(string transactionId, ParticipantStatus status)
    {
    }

    /// <inheritdoc/>
    public virtual void OnThreePhaseVoted(string transactionId)
    {
    }

    /// <inheritdoc/>
    public virtual void OnEmptyCompensation(string stepKey, TxOperation operation)
    {
    }
}
