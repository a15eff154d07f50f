namespace Granary.Transactions;

/// <summary>Where a saga is.</summary>
public enum SagaStatus
{
    /// <summary>Running actions forward.</summary>
    Running = 0,

    /// <summary>An action failed for good; running compensations backwards.</summary>
    Compensating = 1,

    /// <summary>Every action succeeded.</summary>
    Completed = 2,

    /// <summary>Every needed compensation succeeded: the effects are undone.</summary>
    Compensated = 3,

    /// <summary>A compensation kept failing: an operator must look, then retry.</summary>
    CompensationFailed = 4,
}

/// <summary>Retry limits of a saga.</summary>
/// <param name="MaxActionAttempts">Attempts per action before compensating.</param>
/// <param name="MaxCompensationAttempts">Attempts per compensation before <see cref="SagaStatus.CompensationFailed"/>.</param>
/// <param name="Backoff">Delay between attempts.</param>
public sealed record SagaPolicy(int MaxActionAttempts, int MaxCompensationAttempts, RetryBackoff Backoff)
{
    /// <summary>3 action attempts, 5 compensation attempts, default backoff.</summary>
    public static SagaPolicy Default { get; } = new(3, 5, RetryBackoff.Default);
}

/// <summary>What the host should do next.</summary>
/// <param name="Kind">The kind of command.</param>
/// <param name="Step">The step to act on (for Action/Compensate).</param>
/// <param name="Attempt">1-based attempt number.</param>
/// <param name="NotBefore">For Wait: when to ask again.</param>
public sealed record SagaCommand(SagaCommandKind Kind, int Step, int Attempt, DateTimeOffset? NotBefore);

/// <summary>Kinds of <see cref="SagaCommand"/>.</summary>
public enum SagaCommandKind
{
    /// <summary>Run the action of <see cref="SagaCommand.Step"/>.</summary>
    RunAction = 1,

    /// <summary>Run the compensation of <see cref="SagaCommand.Step"/>.</summary>
    RunCompensation = 2,

    /// <summary>Back off until <see cref="SagaCommand.NotBefore"/>.</summary>
    Wait = 3,

    /// <summary>Terminal (or waiting for an operator): nothing to do.</summary>
    Stop = 4,
}

/// <summary>The persisted progress of a saga.</summary>
public sealed record SagaSnapshot(
    int StepCount,
    SagaStatus Status,
    int Step,
    int Attempt,
    DateTimeOffset? NotBefore,
    string? LastError,
    int? FailedStep,
    IReadOnlyList<string> Journal);

/// <summary>
/// A saga as a pure state machine: actions run in order; an action that fails past its retries
/// starts compensation of that step (its action may have half-happened; TCC guards make an
/// unneeded compensation a no-op) and every earlier step, in reverse. Retries back off
/// exponentially with jitter. A compensation that keeps failing parks the saga in
/// <see cref="SagaStatus.CompensationFailed"/> until <see cref="RetryCompensation"/>.
/// The host persists <see cref="ToSnapshot"/> after every transition and before acting on it.
/// </summary>
public sealed class SagaRunner
{
    private readonly SagaPolicy _policy;
    private readonly List<string> _journal = [];

    /// <summary>Starts a saga of <paramref name="stepCount"/> steps.</summary>
    public SagaRunner(int stepCount, SagaPolicy policy)
    {
        ArgumentOutOfRangeException.ThrowIfLessThan(stepCount, 1);
        ArgumentNullException.ThrowIfNull(policy);
        ArgumentOutOfRangeException.ThrowIfLessThan(policy.MaxActionAttempts, 1);
        ArgumentOutOfRangeException.ThrowIfLessThan(policy.MaxCompensationAttempts, 1);
        StepCount = stepCount;
        _policy = policy;
        Attempt = 1;
    }

    /// <summary>Number of steps.</summary>
    public int StepCount { get; }

    /// <summary>Status.</summary>
    public SagaStatus Status { get; private set; }

    /// <summary>Step being acted on (forward while running, backward while compensating).</summary>
    public int Step { get; private set; }

    /// <summary>Attempt number of the current command (1-based).</summary>
    public int Attempt { get; private set; }

    /// <summary>Backoff deadline.</summary>
    public DateTimeOffset? NotBefore { get; private set; }

    /// <summary>The last failure.</summary>
    public string? LastError { get; private set; }

    /// <summary>The step whose action failed, if any.</summary>
    public int? FailedStep { get; private set; }

    /// <summary>What happened, in order (e.g. <c>action 0 ok</c>, <c>compensate 1 failed: ...</c>).</summary>
    public IReadOnlyList<string> Journal => _journal;

    /// <summary>True in Completed and Compensated.</summary>
    public bool IsFinished => Status is SagaStatus.Completed or SagaStatus.Compensated;

    /// <summary>Restores a saga from its snapshot.</summary>
    public static SagaRunner Restore(SagaSnapshot snapshot, SagaPolicy policy)
    {
        ArgumentNullException.ThrowIfNull(snapshot);
        var s = new SagaRunner(snapshot.StepCount, policy)
        {
            Status = snapshot.Status,
            Step = snapshot.Step,
            Attempt = snapshot.Attempt,
            NotBefore = snapshot.NotBefore,
            LastError = snapshot.LastError,
            FailedStep = snapshot.FailedStep,
        };
        s._journal.AddRange(snapshot.Journal);
        return s;
    }

    /// <summary>The persisted form.</summary>
    public SagaSnapshot ToSnapshot() => new(StepCount, Status, Step, Attempt, NotBefore, LastError, FailedStep, _journal.ToList());

    /// <summary>The next thing to do at <paramref name="now"/>.</summary>
    public SagaCommand Next(DateTimeOffset now)
    {
        if (Status is SagaStatus.Completed or SagaStatus.Compensated or SagaStatus.CompensationFailed)
        {
            return new SagaCommand(SagaCommandKind.Stop, Step, Attempt, null);
        }

        if (NotBefore is { } nb && now < nb)
        {
            return new SagaCommand(SagaCommandKind.Wait, Step, Attempt, nb);
        }

        return new SagaCommand(Status == SagaStatus.Running ? SagaCommandKind.RunAction : SagaCommandKind.RunCompensation, Step, Attempt, null);
    }

    /// <summary>The current action succeeded.</summary>
    public void ActionSucceeded(int step)
    {
        Expect(SagaStatus.Running, step);
        _journal.Add($"action {step} ok");
        NotBefore = null;
        Attempt = 1;
        if (step + 1 == StepCount)
        {
            Status = SagaStatus.Completed;
        }
        else
        {
            Step = step + 1;
        }
    }

    /// <summary>
    /// The current action failed. Retries with backoff while attempts remain and the failure is
    /// retryable; then starts compensating from this step backwards.
    /// </summary>
    public void ActionFailed(int step, string error, bool retryable, DateTimeOffset now, double random)
    {
        Expect(SagaStatus.Running, step);
        LastError = error;
        _journal.Add($"action {step} failed (attempt {Attempt}): {error}");
        if (retryable && Attempt < _policy.MaxActionAttempts)
        {
            NotBefore = now + _policy.Backoff.Delay(Attempt, random);
            Attempt++;
            return;
        }

        FailedStep = step;
        Status = SagaStatus.Compensating;
        Attempt = 1;
        NotBefore = null;
    }

    /// <summary>The current compensation succeeded (or was a no-op).</summary>
    public void CompensationSucceeded(int step)
    {
        Expect(SagaStatus.Compensating, step);
        _journal.Add($"compensate {step} ok");
        NotBefore = null;
        Attempt = 1;
        if (step == 0)
        {
            Status = SagaStatus.Compensated;
        }
        else
        {
            Step = step - 1;
        }
    }

    /// <summary>The current compensation failed: retry with backoff, or park in <see cref="SagaStatus.CompensationFailed"/>.</summary>
    public void CompensationFailed(int step, string error, DateTimeOffset now, double random)
    {
        Expect(SagaStatus.Compensating, step);
        LastError = error;
        _journal.Add($"compensate {step} failed (attempt {Attempt}): {error}");
        if (Attempt < _policy.MaxCompensationAttempts)
        {
            NotBefore = now + _policy.Backoff.Delay(Attempt, random);
            Attempt++;
            return;
        }

        Status = SagaStatus.CompensationFailed;
        NotBefore = null;
    }

    /// <summary>Operator action: resume compensation from where it stopped, with fresh attempts.</summary>
    public void RetryCompensation()
    {
        if (Status != SagaStatus.CompensationFailed)
        {
            throw new InvalidOperationException($"only a saga in CompensationFailed can be retried (it is {Status})");
        }

        _journal.Add($"operator retry at compensate {Step}");
        Status = SagaStatus.Compensating;
        Attempt = 1;
        NotBefore = null;
    }

    private void Expect(SagaStatus status, int step)
    {
        if (Status != status || Step != step)
        {
            throw new InvalidOperationException($"saga is {Status} at step {Step}; got a result for step {step} while expecting {status}");
        }
    }
}
