using Granary.Errors;
using Microsoft.Extensions.Logging;

namespace Granary.Transactions;

/// <summary>
/// The saga face of a participant over the <see cref="TccBarrier"/>: an action runs once, a
/// compensation without its action is a no-op that leaves a barrier, an action after its
/// compensation is refused, and an action received after its saga's deadline is refused. While
/// steps are remembered for sagas that may still send them, a timer asks those sagas now and then
/// whether they have finished, so the barrier can let their steps go (bounded memory).
/// </summary>
public sealed class SagaStepGuard(IGrainBase grain, IGrainFactory grains, TimeProvider time, TransactionOptions options, ILogger logger, IParticipantGrainResource resource, Func<ParticipantWrite, Task> write)
{
    private IGrainTimer? _sagaTimer;

    /// <summary>The barrier (restored on activation, encoded on every write).</summary>
    public TccBarrier Barrier { get; private set; } = new();

    /// <summary>Restores the barrier from the stored state; rows written before steps carried their time and saga are dated <paramref name="now"/>, the saga read from the key.</summary>
    public void Load(ParticipantState state, DateTimeOffset now)
    {
        Barrier = new TccBarrier(state.SagaBarriers.Select(TccStepCodec.Decode).Concat(state.SagaSteps.Select(kv =>
            KeyValuePair.Create(kv.Key, new TccStep((TccStepState)kv.Value, now, TccBarrier.SagaIdOfLegacyKey(kv.Key))))));
        EnsureTimer();
    }

    /// <summary>Brings the stored form up to date before a write (drops what no saga can send any more).</summary>
    public void Store(ParticipantState state, DateTimeOffset now)
    {
        Barrier.Prune(now, options.SagaStepWindow, options.OutcomeRetention);
        state.SagaBarriers = Barrier.Steps.Select(kv => TccStepCodec.Encode(kv.Key, kv.Value)).ToList();
        state.SagaSteps = new(StringComparer.Ordinal);
    }

    /// <summary>Runs a saga step's action once; null on success, else why it cannot run.</summary>
    public async Task<string?> RunActionAsync(string stepKey, TxOperation operation)
    {
        switch (Barrier.CheckAction(stepKey))
        {
            case TccActionVerdict.AlreadyDone:
                await write(ParticipantWrite.Durable);
                return null;
            case TccActionVerdict.RefusedAfterCompensation:
                await write(ParticipantWrite.Durable);
                return $"{resource.Describe}: step {stepKey} was already compensated; the late action is refused";
        }

        // Its saga stopped waiting for this copy (and may have compensated the step, which this
        // participant may already have forgotten): running it now could apply it after its compensation.
        if (PrepareDeadline.Current is { } deadline && time.GetUtcNow() > deadline)
        {
            throw new TransactionProtocolException($"{resource.Describe}: action of step {stepKey} arrived after its deadline {deadline:O}; retry");
        }

        if (resource.Missing() is { } missing)
        {
            return missing;
        }

        var check = resource.CanReserve(operation);
        if (!check.Yes)
        {
            return check.Reason;
        }

        resource.Apply(operation);
        Barrier.ActionDone(stepKey, time.GetUtcNow(), SagaOrigin.Current);
        await write(ParticipantWrite.Persist);
        EnsureTimer();
        return null;
    }

    /// <summary>Compensates a saga step; true when something was undone.</summary>
    public async Task<bool> CompensateAsync(string stepKey, TxOperation operation)
    {
        switch (Barrier.CheckCompensation(stepKey, time.GetUtcNow(), SagaOrigin.Current))
        {
            case TccCompensationVerdict.Run:
                resource.Undo(operation);
                Barrier.Compensated(stepKey, time.GetUtcNow());
                await write(ParticipantWrite.Persist);
                return true;
            case TccCompensationVerdict.NoOpWithoutAction:
                resource.OnEmptyCompensation(stepKey, operation);
                if (resource.Missing() is null)
                {
                    // The barrier must be durable: it is what refuses the action if it arrives late.
                    await write(ParticipantWrite.Persist);
                }

                return false;
            default:
                await write(ParticipantWrite.Durable);
                return false;
        }
    }

    /// <summary>While saga steps are remembered for sagas that may still send them, asks those sagas now and then whether they have finished.</summary>
    private void EnsureTimer()
    {
        if (_sagaTimer is null && Barrier.AwaitsSagas)
        {
            // Not kept alive by it: an idle participant may be collected, its stored steps are asked about again on the next activation.
            _sagaTimer = grain.RegisterGrainTimer(
                AskSagasAsync,
                new GrainTimerCreationOptions(options.InquiryInterval, options.InquiryInterval) { KeepAlive = false });
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
        var window = options.SagaStepWindow;
        var due = Barrier.DueForInquiry(time.GetUtcNow(), window, 32);
        var answers = await Task.WhenAll(due.Select(async sagaId =>
        {
            try
            {
                var view = await grains.GetGrain<ISagaGrain>(sagaId).GetAsync().WaitAsync(options.CallTimeout, time, cancellationToken);
                return (SagaId: sagaId, Finished: view.Status is nameof(SagaStatus.Completed) or nameof(SagaStatus.Compensated) or "Unknown");
            }
            catch (Exception ex) when (ex is not OperationCanceledException)
            {
                TransactionLog.LogDebugInquiryFailed(logger, resource.Describe, "saga " + sagaId, ex.Message);
                return (SagaId: sagaId, Finished: false);
            }
        }));
        foreach (var (sagaId, finished) in answers)
        {
            if (finished)
            {
                // Written with the participant's next write; a reactivation before that asks again.
                Barrier.SagaFinished(sagaId, time.GetUtcNow());
            }
            else
            {
                Barrier.SagaPending(sagaId, time.GetUtcNow(), window, options.OutcomeRetention);
            }
        }

        if (!Barrier.AwaitsSagas)
        {
            _sagaTimer?.Dispose();
            _sagaTimer = null;
        }
    }
}
