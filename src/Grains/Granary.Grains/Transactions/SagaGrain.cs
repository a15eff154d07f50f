using Granary.Errors;
using Microsoft.Extensions.Logging;
using Microsoft.Extensions.Options;

namespace Granary.Transactions;

/// <summary>
/// Runs a saga with <see cref="SagaRunner"/>: progress is persisted before each step is acted on,
/// failures are retried with exponential backoff and jitter, compensations run in reverse, and a
/// compensation that keeps failing parks the saga in CompensationFailed for an operator. An
/// activation that finds an unfinished saga (its silo died) resumes it on a timer.
/// </summary>
[GrainType("granary.transactions.saga")]
[KeyIsName("sagaId")]
public sealed class SagaGrain(
    [PersistentState("tx-saga", GranaryStorage.Default)] IPersistentState<SagaState> state,
    TimeProvider time,
    IOptions<TransactionOptions> options,
    ILogger<SagaGrain> logger) : Grain, ISagaGrain
{
    private readonly TransactionOptions _options = options.Value;
    private SagaRunner? _runner;
    private IGrainTimer? _resumeTimer;
    private Task? _driving;

    private string SagaId => this.GetPrimaryKeyString();

    private SagaPolicy Policy => new(_options.SagaMaxActionAttempts, _options.SagaMaxCompensationAttempts, _options.Backoff);

    /// <inheritdoc/>
    public override Task OnActivateAsync(CancellationToken cancellationToken)
    {
        if (state.State.Definition is { } definition)
        {
            _runner = SagaRunner.Restore(
                new SagaSnapshot(definition.Steps.Count, (SagaStatus)state.State.Status, state.State.Step, state.State.Attempt, state.State.NotBefore, state.State.LastError, state.State.FailedStep, state.State.Journal),
                Policy);
            if (_runner.Status is SagaStatus.Running or SagaStatus.Compensating)
            {
                _resumeTimer = this.RegisterGrainTimer(
                    async ct =>
                    {
                        _resumeTimer?.Dispose();
                        _resumeTimer = null;
                        _driving ??= DriveAsync(ct);
                        await _driving;
                    },
                    new GrainTimerCreationOptions(TimeSpan.FromMilliseconds(50), Timeout.InfiniteTimeSpan) { KeepAlive = true });
            }
        }

        return base.OnActivateAsync(cancellationToken);
    }

    /// <inheritdoc/>
    public async Task<SagaView> RunAsync(SagaDefinition definition)
    {
        Guard.Name(SagaId, "sagaId");
        if (definition?.Steps is null)
        {
            throw new InvalidRequestException(nameof(definition), "must list steps");
        }

        if (definition.Steps.Count is 0 or > Limits.Transactions.MaxParticipants)
        {
            throw new InvalidRequestException(nameof(definition), $"has {definition.Steps.Count} steps; 1 to {Limits.Transactions.MaxParticipants} are allowed");
        }

        for (var i = 0; i < definition.Steps.Count; i++)
        {
            var step = definition.Steps[i] ?? throw new InvalidRequestException($"steps[{i}]", "must not be null");
            Guard.Name(step.Name, $"steps[{i}].name");
            Participants.Validate([step.Participant], $"steps[{i}].participant");
            Participants.ValidateOperation(step.Participant, step.Operation, $"steps[{i}]");
        }

        if (state.State.Definition is { } existing)
        {
            if (!string.Equals(existing.Fingerprint(), definition.Fingerprint(), StringComparison.Ordinal))
            {
                throw new TransactionConflictException(SagaId, "saga id already used for another definition");
            }
        }
        else
        {
            state.State.Definition = definition;
            _runner = new SagaRunner(definition.Steps.Count, Policy);
            await PersistAsync();
        }

        await DriveWithinBudgetAsync();
        return View();
    }

    /// <inheritdoc/>
    public Task<SagaView> GetAsync() => Task.FromResult(View());

    /// <inheritdoc/>
    public async Task<SagaView> RetryCompensationAsync()
    {
        if (_runner is not { Status: SagaStatus.CompensationFailed })
        {
            throw new GranaryException(TransactionErrorCodes.State, $"saga '{SagaId}' is {(_runner?.Status.ToString() ?? "unknown")}; only a saga in CompensationFailed can be retried");
        }

        _runner.RetryCompensation();
        await PersistAsync();
        await DriveWithinBudgetAsync();
        return View();
    }

    /// <summary>
    /// Drives the saga, but returns after <see cref="TransactionOptions.PhaseTwoBudget"/> even if it
    /// has not stopped (long backoffs must not outlive the caller's response timeout); the drive goes
    /// on in the background and <see cref="GetAsync"/> shows its progress.
    /// </summary>
    private async Task DriveWithinBudgetAsync()
    {
        if (_driving is null || _driving.IsCompleted)
        {
            _driving = DriveAsync(CancellationToken.None);
        }

        var driving = _driving;
        if (await Task.WhenAny(driving, Task.Delay(_options.PhaseTwoBudget, time)) == driving)
        {
            await driving;
        }
    }

    private async Task DriveAsync(CancellationToken cancellationToken)
    {
        var runner = _runner!;
        var steps = state.State.Definition!.Steps;
        while (true)
        {
            var command = runner.Next(time.GetUtcNow());
            switch (command.Kind)
            {
                case SagaCommandKind.Stop:
                    return;
                case SagaCommandKind.Wait:
                    // The clock moved on since Next() looked at it: never ask for a negative delay.
                    var wait = command.NotBefore!.Value - time.GetUtcNow();
                    if (wait > TimeSpan.Zero)
                    {
                        await Task.Delay(wait, time, cancellationToken);
                    }
                    continue;
            }

            var step = steps[command.Step];
            var participant = Participants.Saga(GrainFactory, step.Participant);
            var key = $"{SagaId}/{command.Step}:{step.Name}";

            // The participant refuses the action after the time this call waits for it, and remembers
            // the step until this saga says it has finished (TccBarrier): both bound what it keeps.
            PrepareDeadline.Set(time.GetUtcNow() + _options.CallTimeout);
            SagaOrigin.Set(SagaId);
            if (command.Kind == SagaCommandKind.RunAction)
            {
                try
                {
                    var refusal = await participant.RunSagaActionAsync(key, step.Operation).WaitAsync(_options.CallTimeout, time, cancellationToken);
                    if (refusal is null)
                    {
                        runner.ActionSucceeded(command.Step);
                    }
                    else
                    {
                        runner.ActionFailed(command.Step, refusal, retryable: false, time.GetUtcNow(), Random.Shared.NextDouble());
                    }
                }
                catch (Exception ex) when (ex is not OperationCanceledException and not InvalidRequestException)
                {
                    runner.ActionFailed(command.Step, ex.Message, retryable: true, time.GetUtcNow(), Random.Shared.NextDouble());
                }
            }
            else
            {
                try
                {
                    await participant.CompensateSagaActionAsync(key, step.Operation).WaitAsync(_options.CallTimeout, time, cancellationToken);
                    runner.CompensationSucceeded(command.Step);
                }
                catch (Exception ex) when (ex is not OperationCanceledException)
                {
                    TransactionLog.LogWarningSaga(logger, SagaId, ex.Message);
                    runner.CompensationFailed(command.Step, ex.Message, time.GetUtcNow(), Random.Shared.NextDouble());
                }
            }

            await PersistAsync();
        }
    }

    private async Task PersistAsync()
    {
        var s = _runner!.ToSnapshot();
        state.State.Status = (int)s.Status;
        state.State.Step = s.Step;
        state.State.Attempt = s.Attempt;
        state.State.NotBefore = s.NotBefore;
        state.State.LastError = s.LastError;
        state.State.FailedStep = s.FailedStep;
        state.State.Journal = [.. s.Journal];
        try
        {
            await state.WriteStateAsync();
        }
        catch
        {
            DeactivateOnIdle();
            throw;
        }
    }

    private SagaView View() => _runner is { } r
        ? new SagaView(SagaId, r.Status.ToString(), r.Step, r.Attempt, r.LastError, r.FailedStep, r.Journal)
        : new SagaView(SagaId, SagaView.UnknownStatus, 0, 0, null, null, []);
}
