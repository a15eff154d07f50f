using System.Diagnostics;
using Granary.Errors;
using Granary.Scheduling.Handlers;
using Microsoft.Extensions.Logging;
using Microsoft.Extensions.Options;
using Orleans.Concurrency;
using Orleans.Placement;

namespace Granary.Scheduling;

/// <summary>
/// Implements <see cref="IWorkerGrain"/>: runs up to its capacity of tasks at once on the silo it
/// was started on, heartbeats their leases and acknowledges each run only after the handler has
/// finished (late acknowledgement). A worker grain reactivated anywhere else (its silo died) was
/// never started there and refuses work, so the scheduler drops it.
/// </summary>
/// <remarks>
/// A worker in an application's process (<see cref="WorkerSettings.Observer"/>) uses the same grain as
/// its door into the cluster: each dispatch is offered to the application, which claims the task,
/// renews its lease and finishes it through this grain (the same claim, lease and acknowledgement a
/// silo's worker uses). It has no timers here: the application renews the registration and the
/// leases, so when its process dies both simply expire, the queue forgets the worker and the task
/// runs again elsewhere once its lease is gone.
/// </remarks>
[Reentrant]
[PreferLocalPlacement]
[GrainType("granary.scheduling.worker")]
public sealed class WorkerGrain(
    TaskHandlerRegistry registry,
    IOptions<SchedulingOptions> options,
    TimeProvider time,
    SchedulingMetrics metrics,
    ITaskRunJournal journal,
    ILogger<WorkerGrain> logger) : Grain, IWorkerGrain
{
    private static readonly TimeSpan RegisterPeriod = TimeSpan.FromSeconds(2);
    private static readonly TimeSpan OfferTimeout = TimeSpan.FromSeconds(2);
    private readonly Dictionary<string, (string? Lease, CancellationTokenSource Cancel)> _running = new(StringComparer.Ordinal);
    private WorkerSettings? _settings;
    private IGrainTimer? _heartbeat;
    private IGrainTimer? _register;
    private long _completed;
    private long _failed;

    private string Id => this.GetPrimaryKeyString();

    private string Queue => Id.Split('/')[0];

    /// <inheritdoc/>
    public async Task<WorkerInfo> StartAsync(WorkerSettings settings)
    {
        ArgumentNullException.ThrowIfNull(settings);
        if (settings.Capacity is < 1 or > 10_000 || settings.Weight is < 1 or > 1000)
        {
            throw new TaskRejectedException("settings", "capacity must be 1..10000 and weight 1..1000");
        }

        var previous = _settings;
        _settings = settings;
        try
        {
            // Registered first: a worker for a queue that is not declared is refused (TaskQueueNotFoundException) and starts nothing.
            await RegisterAsync();
        }
        catch (TaskQueueNotFoundException)
        {
            _settings = previous;
            throw;
        }

        if (settings.Observer is not null)
        {
            // In an application's process: its own calls keep the registration and the leases alive.
            StopTimers();
            return Info();
        }

        var running = _running;
        metrics.Track(this, Queue, () => running.Count);
        _heartbeat ??= this.RegisterGrainTimer(HeartbeatAsync, new GrainTimerCreationOptions(options.Value.HeartbeatInterval, options.Value.HeartbeatInterval) { Interleave = true, KeepAlive = true });
        _register ??= this.RegisterGrainTimer(_ => RegisterAsync(), new GrainTimerCreationOptions(RegisterPeriod, RegisterPeriod) { Interleave = true, KeepAlive = true });
        return Info();
    }

    /// <inheritdoc/>
    public override Task OnDeactivateAsync(DeactivationReason reason, CancellationToken cancellationToken)
    {
        metrics.Untrack(this);
        return base.OnDeactivateAsync(reason, cancellationToken);
    }

    /// <inheritdoc/>
    public async Task StopAsync()
    {
        _settings = null;
        metrics.Untrack(this);
        StopTimers();
        await GrainFactory.GetGrain<IQueueGrain>(Queue).UnregisterWorkerAsync(Id);
    }

    /// <inheritdoc/>
    public async Task<bool> ExecuteAsync(TaskDispatch dispatch)
    {
        ArgumentNullException.ThrowIfNull(dispatch);
        if (_settings is null)
        {
            throw new WorkerUnavailableException(Id);
        }

        if (_settings.Observer is { } observer)
        {
            try
            {
                return await observer.OfferAsync(dispatch).WaitAsync(OfferTimeout);
            }
            catch (Exception ex) when (ex is not OutOfMemoryException)
            {
                // The application's process is gone or not answering: drop it until it starts again.
                _settings = null;
                throw new WorkerUnavailableException(Id);
            }
        }

        return Execute(dispatch, _settings);
    }

    /// <inheritdoc/>
    public async Task<TaskExecution?> ClaimAsync(TaskDispatch dispatch)
    {
        ArgumentNullException.ThrowIfNull(dispatch);
        RequireApplicationWorker();
        var execution = await ClaimCoreAsync(GrainFactory.GetGrain<ITaskGrain>(dispatch.TaskId));
        return execution is null ? null : execution with { HeartbeatInterval = options.Value.HeartbeatInterval };
    }

    /// <inheritdoc/>
    public Task<bool> RenewAsync(string taskId, string leaseId)
    {
        RequireApplicationWorker();
        return GrainFactory.GetGrain<ITaskGrain>(Guard.Name(taskId, "taskId")).HeartbeatAsync(Guard.Name(leaseId, "leaseId"));
    }

    /// <inheritdoc/>
    public async Task FinishAsync(TaskDispatch dispatch, TaskExecution? execution, RunOutcome outcome, string? payload, TimeSpan elapsed)
    {
        ArgumentNullException.ThrowIfNull(dispatch);
        var success = false;
        if (execution is not null)
        {
            var task = GrainFactory.GetGrain<ITaskGrain>(dispatch.TaskId);
            success = await FinishCoreAsync(task, execution, new RunResult(outcome, payload));
        }

        Count(success);
        await WorkerDoneAsync(dispatch, elapsed, success);
    }

    private bool Execute(TaskDispatch dispatch, WorkerSettings settings)
    {
        if (_running.Count >= settings.Capacity || _running.ContainsKey(dispatch.TaskId))
        {
            return false;
        }

        _running[dispatch.TaskId] = (null, new CancellationTokenSource());
        _ = RunAsync(dispatch, settings);
        return true;
    }

    /// <inheritdoc/>
    public Task<WorkerInfo> GetInfoAsync() => Task.FromResult(Info());

    private async Task RunAsync(TaskDispatch dispatch, WorkerSettings settings)
    {
        var started = Stopwatch.GetTimestamp();
        var success = false;
        int? runningAttempt = null;
        var cancel = _running[dispatch.TaskId].Cancel;
        var task = GrainFactory.GetGrain<ITaskGrain>(dispatch.TaskId);
        try
        {
            var execution = await ClaimCoreAsync(task, settings.ExtraLatency, cancel.Token);
            if (execution is not null)
            {
                _running[dispatch.TaskId] = (execution.LeaseId, cancel);
                var handler = registry.Get(execution.Type);
                var run = new TaskRunContext(execution.TaskId, TaskHandlerRegistry.Parse(execution.Args), execution.Attempt, time, Random.Shared);
                runningAttempt = execution.Attempt;
                var result = await HandlerRunner.RunAsync(handler, run, execution.TimeLimit, cancel.Token);
                success = await FinishCoreAsync(task, execution, result);
            }
        }
        catch (OperationCanceledException) when (cancel.IsCancellationRequested)
        {
            // Cancelled by the task grain (lease no longer valid): nothing to acknowledge.
            if (runningAttempt is { } attempt)
            {
                journal.Append(new TaskRunEvent(time.GetUtcNow(), TaskRunEventKind.Abandoned, dispatch.TaskId, attempt, Id));
            }
        }
        catch (Exception ex) when (ex is not OutOfMemoryException)
        {
            SchedulingLog.LogWarningRunFailed(logger, Id, dispatch.TaskId, ex);
        }
        finally
        {
            _running.Remove(dispatch.TaskId);
            cancel.Dispose();
            Count(success);
        }

        await WorkerDoneAsync(dispatch, Stopwatch.GetElapsedTime(started), success);
    }

    /// <summary>Claims the task under a new lease (after the simulated extra latency, if any) and journals the start; null when it must not run now.</summary>
    private async Task<TaskExecution?> ClaimCoreAsync(ITaskGrain task, TimeSpan extraLatency = default, CancellationToken cancellationToken = default)
    {
        var execution = await task.StartAsync(Id);
        if (execution is not null)
        {
            if (extraLatency > TimeSpan.Zero)
            {
                await Task.Delay(extraLatency, time, cancellationToken);
            }

            journal.Append(new TaskRunEvent(time.GetUtcNow(), TaskRunEventKind.Started, execution.TaskId, execution.Attempt, Id));
        }

        return execution;
    }

    /// <summary>Journals the end of a run and acknowledges it; true when it succeeded.</summary>
    private async Task<bool> FinishCoreAsync(ITaskGrain task, TaskExecution execution, RunResult result)
    {
        journal.Append(new TaskRunEvent(time.GetUtcNow(), TaskRunEventKind.Finished, execution.TaskId, execution.Attempt, Id, result.Outcome));
        await AcknowledgeAsync(task, execution.LeaseId, result);
        return result.Outcome == RunOutcome.Succeeded;
    }

    private void Count(bool success)
    {
        if (success)
        {
            _completed++;
        }
        else
        {
            _failed++;
        }

        metrics.Runs.Add(1, new KeyValuePair<string, object?>("queue", Queue), new KeyValuePair<string, object?>("outcome", success ? "succeeded" : "failed"));
    }

    private async Task WorkerDoneAsync(TaskDispatch dispatch, TimeSpan elapsed, bool success)
    {
        try
        {
            await GrainFactory.GetGrain<ISchedulerGrain>(dispatch.Scheduler)
                .WorkerDoneAsync(dispatch.TaskId, dispatch.DispatchId, Id, elapsed, success);
        }
        catch (Exception ex) when (ex is not OutOfMemoryException)
        {
            SchedulingLog.LogWarningRunFailed(logger, Id, dispatch.TaskId, ex);
        }
    }

    private void RequireApplicationWorker()
    {
        if (_settings?.Observer is null)
        {
            throw new WorkerUnavailableException(Id);
        }
    }

    private void StopTimers()
    {
        _heartbeat?.Dispose();
        _register?.Dispose();
        _heartbeat = _register = null;
    }

    private static async Task AcknowledgeAsync(ITaskGrain task, string leaseId, RunResult result)
    {
        // The acknowledgement is what makes the run count: retry it a few times, then let the
        // lease expire and the task run again rather than lose it.
        for (var attempt = 1; ; attempt++)
        {
            try
            {
                await task.CompleteAsync(leaseId, result.Outcome, result.Payload).WaitAsync(TimeSpan.FromSeconds(5));
                return;
            }
            catch (Exception) when (attempt < 3)
            {
                await Task.Delay(TimeSpan.FromMilliseconds(200 * attempt));
            }
        }
    }

    private async Task HeartbeatAsync(CancellationToken cancellationToken)
    {
        var leased = _running.Where(kv => kv.Value.Lease is not null).ToList();
        await Task.WhenAll(leased.Select(async kv =>
        {
            try
            {
                if (!await GrainFactory.GetGrain<ITaskGrain>(kv.Key).HeartbeatAsync(kv.Value.Lease!).WaitAsync(TimeSpan.FromSeconds(2)))
                {
                    await kv.Value.Cancel.CancelAsync();
                }
            }
            catch (ObjectDisposedException)
            {
                // Finished meanwhile.
            }
            catch (Exception ex) when (ex is TimeoutException or OrleansException or Granary.Errors.GranaryException { IsRetryable: true })
            {
                // The task grain's silo or storage may be recovering; the next heartbeat tries again.
            }
        }));
    }

    private async Task RegisterAsync()
    {
        if (_settings is not null)
        {
            await GrainFactory.GetGrain<IQueueGrain>(Queue).RegisterWorkerAsync(Info());
        }
    }

    private WorkerInfo Info() => new(Id, Queue, _settings?.Observer is null ? RuntimeIdentity : "application", _settings?.Capacity ?? 0, _settings?.Weight ?? 0, _running.Count, _completed, _failed)
    {
        TaskTypes = _settings?.TaskTypes,
    };
}
