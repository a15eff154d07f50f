namespace Granary.Transactions;

/// <summary>What a concrete participant grain tells <see cref="TransactionParticipant{TState}"/>: what it guards and how operations apply, plus fault-injection hooks.</summary>
public interface IParticipantGrainResource : IParticipantResource<TxOperation>
{
    /// <summary>Throws <see cref="Granary.Errors.InvalidRequestException"/> for an operation this participant does not take or with bad arguments.</summary>
    void ValidateOperation(TxOperation operation);

    /// <summary>Undoes an applied operation (saga compensation); throws when it cannot.</summary>
    void Undo(TxOperation operation);

    /// <summary>Simulated partition (fault injection): while true, protocol messages to this participant fail and it cannot reach its peers.</summary>
    bool Unreachable { get; }

    /// <summary>This participant just voted yes in a three-phase commit.</summary>
    void OnThreePhaseVoted(string transactionId);

    /// <summary>A compensation arrived without its action.</summary>
    void OnEmptyCompensation(string stepKey, TxOperation operation);
}
