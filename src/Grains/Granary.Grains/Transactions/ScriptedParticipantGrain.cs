using Granary.Errors;
using Microsoft.Extensions.Logging;
using Microsoft.Extensions.Options;
using Orleans.Serialization;

namespace Granary.Transactions;

/// <summary>A participant that records every call and fails as scripted: used to show and test failure paths.</summary>
[GrainType("granary.transactions.scripted-participant")]
[KeyIsName("participant")]
public sealed class ScriptedParticipantGrain(
    [PersistentState("tx-scripted", GranaryStorage.Default)] IPersistentState<ScriptedState> state,
    IGrainFactory grains,
    DeepCopier copier,
    TimeProvider time,
    IOptions<TransactionOptions> options,
    ILogger<ScriptedParticipantGrain> logger)
    : ParticipantGrain<ScriptedState>(state, grains, copier, time, options, logger), IScriptedParticipantGrain
{
    // The simulated partition lives in memory only: a partition is a property of the network, not of the stored state.
    private bool _partitionAfterVote;
    private bool _partitioned;

    /// <inheritdoc/>
    public override string Describe => $"scripted '{this.GetPrimaryKeyString()}'";

    /// <inheritdoc/>
    public override bool Unreachable => _partitioned;

    /// <inheritdoc/>
    public Task PartitionAfterVoteAsync()
    {
        _partitionAfterVote = true;
        return Task.CompletedTask;
    }

    /// <inheritdoc/>
    public Task HealAsync()
    {
        _partitionAfterVote = false;
        _partitioned = false;
        return Task.CompletedTask;
    }

    /// <inheritdoc/>
    public async Task ScriptAsync(int actionFailures, int compensationFailures, bool refuse)
    {
        State.ActionFailuresLeft = (int)Guard.InRange(actionFailures, nameof(actionFailures), 0, 1000);
        State.CompensationFailuresLeft = (int)Guard.InRange(compensationFailures, nameof(compensationFailures), 0, 1000);
        State.Refuse = refuse;
        await Participant.PersistAsync();
    }

    /// <inheritdoc/>
    public Task<ScriptedSnapshot> GetAsync() =>
        Task.FromResult(new ScriptedSnapshot(State.Calls.ToList(), State.ActionFailuresLeft, State.CompensationFailuresLeft, State.Refuse));

    /// <inheritdoc/>
    public override async Task<string?> RunSagaActionAsync(string stepKey, TxOperation operation)
    {
        if (State.ActionFailuresLeft > 0)
        {
            State.ActionFailuresLeft--;
            State.Calls.Add("action-failed " + stepKey);
            await Participant.PersistAsync();
            throw new GranaryException(ErrorCodes.Internal, $"{Describe}: injected action failure at {stepKey}");
        }

        return await Participant.RunSagaActionAsync(stepKey, operation);
    }

    /// <inheritdoc/>
    public override async Task<bool> CompensateSagaActionAsync(string stepKey, TxOperation operation)
    {
        if (State.CompensationFailuresLeft > 0)
        {
            State.CompensationFailuresLeft--;
            State.Calls.Add("compensate-failed " + stepKey);
            await Participant.PersistAsync();
            throw new GranaryException(ErrorCodes.Internal, $"{Describe}: injected compensation failure at {stepKey}");
        }

        return await Participant.CompensateSagaActionAsync(stepKey, operation);
    }

    /// <inheritdoc/>
    public override void OnResolved(string transactionId, ParticipantStatus status) =>
        State.Calls.Add((status == ParticipantStatus.Committed ? "committed " : "aborted ") + transactionId);

    /// <inheritdoc/>
    public override void OnThreePhaseVoted(string transactionId)
    {
        if (_partitionAfterVote)
        {
            _partitionAfterVote = false;
            _partitioned = true;
        }
    }

    /// <inheritdoc/>
    public override string? Missing() => null;

    /// <inheritdoc/>
    public override void ValidateOperation(TxOperation operation)
    {
        if (operation is not ScriptedStep step)
        {
            throw new InvalidRequestException(nameof(operation), $"a scripted participant takes scripted steps, not '{operation.Describe()}'");
        }

        Guard.Name(step.Label, "label");
    }

    /// <inheritdoc/>
    public override ReserveCheck CanReserve(TxOperation operation) =>
        State.Refuse ? new ReserveCheck(false, TransactionErrorCodes.Insufficient, $"{Describe} refuses (scripted)") : ReserveCheck.Granted;

    /// <inheritdoc/>
    public override void Apply(TxOperation operation) => State.Calls.Add("action " + ((ScriptedStep)operation).Label);

    /// <inheritdoc/>
    public override void Undo(TxOperation operation) => State.Calls.Add("compensate " + ((ScriptedStep)operation).Label);

    /// <inheritdoc/>
    public override void OnEmptyCompensation(string stepKey, TxOperation operation) =>
        State.Calls.Add("compensate-noop " + ((ScriptedStep)operation).Label);
}
