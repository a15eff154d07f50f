using Granary.Errors;
using Granary.Scheduling.Handlers;
using Microsoft.Extensions.Logging;
using Microsoft.Extensions.Options;

namespace Granary.Scheduling;

/// <summary>
/// Implements <see cref="ITaskGrain"/>: the durable task record, the claim that makes a run
/// happen once per dispatch, the lease that a worker keeps alive by heartbeats (and whose expiry
/// re-dispatches the task: late acknowledgement), the time limit, and the follow-ups after a
/// state change (queue bookkeeping, dead-letter list, workflow, next link of a chain). Follow-ups
/// are idempotent and re-run after a reactivation, so a crash between the state write and a
/// follow-up only delays it. Collected after 10 minutes idle or the silo's collection age, whichever
/// is shorter (<c>AddGranaryActivationCollection</c>).
/// </summary>
[GrainType("granary.scheduling.task")]
[KeyIsName("id")]
public sealed class TaskGrain(
    [PersistentState("task-record", GranaryStorage.Default)] IPersistentState<TaskGrainState> state,
    TaskSubmissionValidator validator,
    IOptions<SchedulingOptions> options,
    TimeProvider time,
    ILogger<TaskGrain> logger) : Grain, ITaskGrain
{
    private static readonly TimeSpan LeaseCheckPeriod = TimeSpan.FromMilliseconds(500);
    private static readonly TimeSpan TimeLimitGrace = TimeSpan.FromSeconds(2);
    private readonly SchedulingOptions _options = options.Value;
    private DateTimeOffset _leaseExpiresAt;
    private IGrainTimer? _leaseTimer;
    private static readonly TimeSpan FollowUpRetryPeriod = TimeSpan.FromSeconds(1);
    private bool _followUpsDone;
    private IGrainTimer? _followUpRetry;
    private TaskCompletionSource? _terminal;

    private TaskGrainState S => state.State;

    private string Id => this.GetPrimaryKeyString();

    /// <inheritdoc/>
    public override Task OnActivateAsync(CancellationToken cancellationToken)
    {
        WatchStoredRun();
        return Task.CompletedTask;
    }

    /// <inheritdoc/>
    public async Task<TaskInfo> SubmitAsync(TaskSubmission submission)
    {
        if (submission is null)
        {
            throw new TaskRejectedException("submission", "must not be null");
        }

        Guard.Name(Id, "id");
        if (S.Submitted && !Expired())
        {
            // Idempotent: the first submission wins. A waiting task is re-queued in case the
            // first attempt stored the record but failed before reaching the scheduler.
            if (TaskTransitions.IsWaiting(S.State))
            {
                await Scheduler().EnqueueAsync(Queued());
            }

            return Info();
        }

        var now = time.GetUtcNow();
        var validated = validator.Validate(submission, now);
        var queue = validated.Queue;

        // Its type served by the silos or declared by a worker of its queue (and each chain step's),
        // and the queue declared, or refused before anything is stored or any scheduler is woken.
        await validator.RequireServedAsync(GrainFactory, [submission]);
        var settings = await GrainFactory.GetGrain<IQueueGrain>(queue).GetSettingsAsync();
        if (submission.Then is { Count: > 0 })
        {
            await TaskSubmissionValidator.RequireDeclaredAsync(GrainFactory, TaskSubmissionValidator.QueuesOf(submission).Skip(1));
        }

        var partition = (int)(Granary.Hashing.StableHash.Hash64(submission.Key ?? Id) % (ulong)settings.Partitions);

        state.State = new TaskGrainState
        {
            Submitted = true,
            Type = submission.Type,
            Args = validated.Args,
            Queue = queue,
            Scheduler = $"{queue}/{partition}",
            Priority = submission.Priority,
            Key = submission.Key,
            CreatedAt = now,
            MaxRetries = submission.MaxRetries ?? _options.DefaultMaxRetries,
            BackoffBaseMs = (long)(submission.BackoffBase ?? _options.DefaultBackoffBase).TotalMilliseconds,
            BackoffCapMs = (long)(submission.BackoffCap ?? _options.DefaultBackoffCap).TotalMilliseconds,
            TimeLimitMs = (long)(submission.TimeLimit ?? _options.DefaultTimeLimit).TotalMilliseconds,
            WorkflowId = submission.WorkflowId,
            WorkflowIndex = submission.WorkflowIndex,
            Then = submission.Then is { Count: > 0 } then ? [.. then] : null,
        };
        TaskLifecycle.Submit(S, now, validated.Eta);
        await SaveAsync();
        await Scheduler().EnqueueAsync(Queued());
        return Info();
    }

    /// <inheritdoc/>
    public async Task<TaskInfo> GetAsync()
    {
        await EnsureKnownAsync();
        if (!_followUpsDone && S.State != TaskState.Running)
        {
            // First read after a reactivation: make sure the chain, workflow and queue heard of the outcome.
            await FollowUpsAsync();
        }

        return Info();
    }

    /// <inheritdoc/>
    public async Task<TaskInfo> WaitAsync(TimeSpan timeout, CancellationToken cancellationToken = default)
    {
        await EnsureKnownAsync();
        if (!TaskTransitions.IsTerminal(S.State))
        {
            _terminal ??= new TaskCompletionSource(TaskCreationOptions.RunContinuationsAsynchronously);
            try
            {
                await _terminal.Task.WaitAsync(Guard.InRange(timeout, nameof(timeout), TimeSpan.Zero, TimeSpan.FromMinutes(5)), time, cancellationToken);
            }
            catch (TimeoutException)
            {
                // Long poll over: the caller asks again.
            }
        }

        return Info();
    }

    /// <inheritdoc/>
    public async Task<TaskInfo> CancelAsync()
    {
        await EnsureKnownAsync();
        if (TaskLifecycle.Cancel(S, time.GetUtcNow()))
        {
            await SaveAsync();
            StopLeaseTimer();
            await FollowUpsAsync();
        }

        return Info();
    }

    /// <inheritdoc/>
    public async Task<TaskInfo> RetryFromDeadLetterAsync()
    {
        await EnsureKnownAsync();
        if (S.State != TaskState.DeadLettered)
        {
            throw new TaskStateException($"task '{Id}' is {TaskTransitions.ToName(S.State)}, not dead-lettered");
        }

        // Its queue may have been removed since: then it stays dead-lettered (declare the queue again first).
        await TaskSubmissionValidator.RequireDeclaredAsync(GrainFactory, [S.Queue]);
        TaskLifecycle.RetryFromDeadLetter(S);
        await SaveAsync();
        await FollowUpsAsync();
        return Info();
    }

    /// <inheritdoc/>
    public async Task<TaskExecution?> StartAsync(string workerId)
    {
        if (!S.Submitted)
        {
            return null;
        }

        if (TaskTransitions.IsTerminal(S.State))
        {
            await FollowUpsAsync();
            return null;
        }

        var now = time.GetUtcNow();
        if (!TaskLifecycle.IsDue(S, now))
        {
            // Never early: a dispatch before the ETA (or a duplicate of a running task) is refused.
            if (TaskTransitions.IsWaiting(S.State))
            {
                await Scheduler().EnqueueAsync(Queued());
            }

            return null;
        }

        if (_options.RateLimits.ContainsKey(S.Type))
        {
            var wait = await GrainFactory.GetGrain<IRateLimitGrain>(S.Type).TryAcquireAsync();
            if (wait > TimeSpan.Zero)
            {
                // Not a state change worth a write: the scheduler holds the task until the bucket refills.
                await Scheduler().EnqueueAsync(Queued() with { Eta = now + wait });
                return null;
            }
        }

        var lease = Guid.NewGuid().ToString("N");
        TaskLifecycle.TryClaim(S, now, lease, workerId);
        await SaveAsync();
        _leaseExpiresAt = now + _options.LeaseTimeout;
        StartLeaseTimer();
        return new TaskExecution(Id, S.Type, S.Args, S.Attempts, lease, TimeSpan.FromMilliseconds(S.TimeLimitMs));
    }

    /// <inheritdoc/>
    public Task<bool> HeartbeatAsync(string leaseId)
    {
        if (!TaskLifecycle.HoldsLease(S, leaseId))
        {
            return Task.FromResult(false);
        }

        _leaseExpiresAt = time.GetUtcNow() + _options.LeaseTimeout;
        return Task.FromResult(true);
    }

    /// <inheritdoc/>
    public async Task CompleteAsync(string leaseId, RunOutcome outcome, string? payload)
    {
        if (!TaskLifecycle.Complete(S, time.GetUtcNow(), leaseId, outcome, payload, Random.Shared))
        {
            return; // stale: the task was re-dispatched, cancelled or timed out meanwhile
        }

        await SaveAsync();
        StopLeaseTimer();

        // The outcome is durable: acknowledge now, so the worker frees its slot without waiting for the
        // scheduler's next write. Follow-ups retry on their own timer, and the scheduler's sweep (and a
        // reactivation's first read) finish them if this activation dies first.
        _followUpsDone = false;
        if (TaskTransitions.IsTerminal(S.State))
        {
            _terminal?.TrySetResult();
        }

        _ = FollowUpsAsync();
    }

    /// <inheritdoc/>
    public async Task<TaskState?> CheckAsync()
    {
        if (!S.Submitted)
        {
            return null;
        }

        if (!_followUpsDone)
        {
            await FollowUpsAsync();
        }

        return S.State;
    }

    private async Task FollowUpsAsync()
    {
        if (TaskTransitions.IsTerminal(S.State))
        {
            _terminal?.TrySetResult();
        }

        try
        {
            if (TaskTransitions.IsWaiting(S.State))
            {
                await Scheduler().EnqueueAsync(Queued());
            }
            else if (TaskTransitions.IsTerminal(S.State))
            {
                if (S.State == TaskState.DeadLettered)
                {
                    await GrainFactory.GetGrain<IDeadLetterGrain>(S.Queue).AddAsync(new DeadLetter(Id, S.FinishedAt ?? time.GetUtcNow(), S.Error));
                }

                if (S.State == TaskState.Succeeded && S.Then is { Count: > 0 } then)
                {
                    var next = then[0] with
                    {
                        Args = TaskHandlerRegistry.Prepend(S.Result ?? "null", then[0].Args),
                        Then = then.Count > 1 ? then.Skip(1).ToList() : null,
                        Queue = then[0].Queue ?? S.Queue,
                    };
                    try
                    {
                        await GrainFactory.GetGrain<ITaskGrain>(NextId()).SubmitAsync(next);
                    }
                    catch (GranaryException ex) when (!ex.IsRetryable)
                    {
                        // Refused for good (its queue was removed since the chain was checked): retrying
                        // would keep this grain and its timer alive forever.
                        SchedulingLog.LogWarningChainStepRefused(logger, Id, ex.Code, ex);
                    }
                }

                if (S.WorkflowId is { } workflow)
                {
                    await GrainFactory.GetGrain<IWorkflowGrain>(workflow).MemberDoneAsync(S.WorkflowIndex, S.State, S.Result);
                }

                // Last, so that while anything above is unfinished the scheduler still sweeps this task.
                await Scheduler().ForgetAsync(Id);
            }

            _followUpsDone = true;
            _followUpRetry?.Dispose();
            _followUpRetry = null;
        }
        catch (Exception ex) when (ex is not OutOfMemoryException)
        {
            // Retried by a timer here, and after a reactivation by the next CheckAsync or GetAsync.
            _followUpsDone = false;
            SchedulingLog.LogWarningFollowUpFailed(logger, Id, ex);
            _followUpRetry ??= this.RegisterGrainTimer(
                _ => _followUpsDone ? Task.CompletedTask : FollowUpsAsync(),
                new GrainTimerCreationOptions(FollowUpRetryPeriod, FollowUpRetryPeriod) { Interleave = false, KeepAlive = true });
        }
    }

    /// <summary>
    /// Stores the record. When the write fails, the record is read back before the error goes to
    /// the caller, so this activation never acts on a change that storage does not hold (a claim
    /// that left the task "running" with no one running it, or a result a client could read but
    /// storage lost); the caller's retry starts from what is stored. When even the read fails, the
    /// activation is dropped and the next call starts from storage.
    /// </summary>
    private async Task SaveAsync()
    {
        try
        {
            await state.WriteStateAsync();
        }
        catch (Exception)
        {
            try
            {
                await state.ReadStateAsync();
                WatchStoredRun();
            }
            catch (Exception reload)
            {
                SchedulingLog.LogWarningRecordReloadFailed(logger, Id, reload);
                this.DeactivateOnIdle();
            }

            throw;
        }
    }

    /// <summary>
    /// A run the stored record says is going on, which this activation is not watching (it was just
    /// activated, or a write it was told failed had been stored): it gets a full lease, since when
    /// its worker last heartbeated is unknown here.
    /// </summary>
    private void WatchStoredRun()
    {
        if (S.Submitted && S.State == TaskState.Running && _leaseTimer is null)
        {
            _leaseExpiresAt = time.GetUtcNow() + _options.LeaseTimeout;
            StartLeaseTimer();
        }
    }

    private void StartLeaseTimer()
    {
        _leaseTimer ??= this.RegisterGrainTimer(CheckLeaseAsync, new GrainTimerCreationOptions(LeaseCheckPeriod, LeaseCheckPeriod) { Interleave = false, KeepAlive = true });
    }

    private void StopLeaseTimer()
    {
        _leaseTimer?.Dispose();
        _leaseTimer = null;
    }

    private async Task CheckLeaseAsync(CancellationToken cancellationToken)
    {
        if (S.State != TaskState.Running)
        {
            StopLeaseTimer();
            return;
        }

        var now = time.GetUtcNow();
        if (TaskLifecycle.IsOverTime(S, now, TimeLimitGrace))
        {
            // The worker should have reported the time limit itself; it is stuck or gone.
            SchedulingLog.LogWarningTimeLimit(logger, Id, S.Worker);
            TaskLifecycle.TimeLimitExceeded(S, now);
        }
        else if (now > _leaseExpiresAt)
        {
            SchedulingLog.LogInformationLeaseLost(logger, Id, S.Worker, S.Redeliveries + 1);
            TaskLifecycle.LeaseLost(S, now);
        }
        else
        {
            return;
        }

        await SaveAsync();
        StopLeaseTimer();
        await FollowUpsAsync();
    }

    private async Task EnsureKnownAsync()
    {
        if (!S.Submitted)
        {
            throw new TaskNotFoundException(Id);
        }

        if (Expired())
        {
            await state.ClearStateAsync();
            state.State = new TaskGrainState();
            throw new TaskNotFoundException(Id);
        }
    }

    private bool Expired() =>
        TaskTransitions.IsTerminal(S.State) && S.FinishedAt is { } finished && finished + _options.ResultRetention < time.GetUtcNow();

    private string NextId() => Id + ".next";

    private ISchedulerGrain Scheduler() => GrainFactory.GetGrain<ISchedulerGrain>(S.Scheduler);

    private QueuedTask Queued() => new(Id, S.Priority, S.Eta, S.Key);

    private TaskInfo Info() => new()
    {
        Id = Id,
        Type = S.Type,
        Args = S.Args,
        Queue = S.Queue,
        State = S.State,
        Priority = S.Priority,
        Attempts = S.Attempts,
        Retries = S.Retries,
        MaxRetries = S.MaxRetries,
        Redeliveries = S.Redeliveries,
        CreatedAt = S.CreatedAt,
        Eta = S.Eta,
        StartedAt = S.StartedAt,
        FinishedAt = S.FinishedAt,
        Worker = S.Worker,
        Result = S.Result,
        Error = S.Error,
        WorkflowId = S.WorkflowId,
        NextTaskId = S.State == TaskState.Succeeded && S.Then is { Count: > 0 } ? NextId() : null,
        TimeLimit = TimeSpan.FromMilliseconds(S.TimeLimitMs),
    };
}
