using System.Diagnostics;
using Granary.Client.DependencyInjection;
using Granary.Scheduling;
using Granary.Scheduling.Handlers;
using Microsoft.Extensions.Hosting;
using Microsoft.Extensions.Logging;
using Polly;
using Polly.Retry;

namespace Granary.Client.Scheduling;

/// <summary>
/// A worker in the application's process (what <see cref="GranaryWorkerServiceCollectionExtensions.AddGranaryWorker(Microsoft.Extensions.DependencyInjection.IServiceCollection, string, int)"/>
/// runs): declares its queue, registers through its worker grain with an observer and the task types it
/// has handlers for, and runs what it accepts. A task runs under the cluster's own lease: this process
/// claims it, renews the lease while the handler runs and acknowledges the outcome after the handler
/// finished (late acknowledgement), all through the worker grain. When the process dies, its
/// registration and its leases stop being renewed: the queue forgets it and the tasks run again on
/// another worker once their leases expire (at least once, never two live leases at a time).
/// </summary>
internal sealed class GranaryWorker : IHostedService, IWorkerObserver, IAsyncDisposable
{
    private readonly IGrainFactory _grains;
    private readonly TaskHandlerRegistry _handlers;
    private readonly string _queue;
    private readonly int _concurrency;
    private readonly GranaryWorkerOptions _options;
    private readonly TimeProvider _time;
    private readonly ILogger _logger;
    private readonly ResiliencePipeline _finish;
    private readonly Dictionary<string, Run> _running = new(StringComparer.Ordinal);
    private readonly Lock _gate = new();
    private readonly CancellationTokenSource _stopping = new();
    private IWorkerObserver? _reference;
    private PeriodicTimer? _timer;
    private Task? _loop;
    private bool _accepting;

    public GranaryWorker(IGrainFactory grains, TaskHandlerRegistry handlers, string queue, int concurrency, GranaryWorkerOptions options, TimeProvider time, ILogger<GranaryWorker> logger)
    {
        _grains = grains;
        _handlers = handlers;
        _queue = queue;
        _concurrency = concurrency;
        _options = options;
        _time = time;
        _logger = logger;
        WorkerId = $"{queue}/{options.Name ?? $"{Environment.MachineName}-{Environment.ProcessId}-{Guid.NewGuid().ToString("N")[..8]}"}";

        // The acknowledgement is what makes a run count: retried a few times; after that the lease
        // expires and the task runs again rather than being lost.
        _finish = new ResiliencePipelineBuilder { TimeProvider = time }
            .AddRetry(new RetryStrategyOptions
            {
                MaxRetryAttempts = 3,
                Delay = TimeSpan.FromMilliseconds(200),
                BackoffType = DelayBackoffType.Exponential,
                ShouldHandle = new PredicateBuilder().Handle<Exception>(ex => ex is not OperationCanceledException),
            })
            .Build();
    }

    /// <summary>The worker's id (<c>queue/name</c>), as the scheduler and <c>granary task workers</c> show it.</summary>
    public string WorkerId { get; }

    /// <summary>Resolved on use: the client learns the cluster's grain types only once it is connected.</summary>
    private IWorkerGrain Worker => _grains.GetGrain<IWorkerGrain>(WorkerId);

    /// <summary>Tasks running now.</summary>
    public int Running
    {
        get
        {
            lock (_gate)
            {
                return _running.Count;
            }
        }
    }

    /// <inheritdoc/>
    public Task StartAsync(CancellationToken cancellationToken)
    {
        _reference = _grains.CreateObjectReference<IWorkerObserver>(this);
        _timer = new PeriodicTimer(_options.HeartbeatInterval, _time);
        _accepting = true;

        // In the background: the Orleans client may still be connecting, and the host must not wait for the cluster.
        _loop = Task.Run(() => LoopAsync(_stopping.Token), CancellationToken.None);
        return Task.CompletedTask;
    }

    /// <inheritdoc/>
    public async Task StopAsync(CancellationToken cancellationToken)
    {
        lock (_gate)
        {
            _accepting = false;
        }

        try
        {
            await Worker.StopAsync().WaitAsync(cancellationToken);
        }
        catch (Exception ex) when (ex is not OutOfMemoryException)
        {
            // Unreachable cluster: the queue forgets the worker when its registration expires.
            WorkerLog.LogWarningWorkerCallFailed(_logger, WorkerId, "stop", ex);
        }

        // Running tasks finish (their leases kept alive by the loop) until the host's shutdown timeout;
        // then they are abandoned unacknowledged and run again elsewhere once their leases expire.
        try
        {
            await Task.WhenAll(RunningTasks()).WaitAsync(cancellationToken);
        }
        catch (OperationCanceledException)
        {
            foreach (var run in Snapshot())
            {
                await run.Cancel.CancelAsync();
            }

            WorkerLog.LogWarningWorkerAbandoned(_logger, WorkerId, Running);
        }

        await _stopping.CancelAsync();
        if (_loop is not null)
        {
            await _loop.ConfigureAwait(ConfigureAwaitOptions.SuppressThrowing);
        }

        if (_reference is not null)
        {
            _grains.DeleteObjectReference<IWorkerObserver>(_reference);
            _reference = null;
        }
    }

    /// <inheritdoc/>
    public ValueTask DisposeAsync()
    {
        _stopping.Cancel();
        _stopping.Dispose();
        _timer?.Dispose();
        return ValueTask.CompletedTask;
    }

    /// <inheritdoc/>
    public Task<bool> OfferAsync(TaskDispatch dispatch)
    {
        ArgumentNullException.ThrowIfNull(dispatch);
        Run run;
        lock (_gate)
        {
            if (!_accepting || _running.Count >= _concurrency || _running.ContainsKey(dispatch.TaskId))
            {
                return Task.FromResult(false);
            }

            run = new Run(dispatch);
            _running[dispatch.TaskId] = run;
        }

        run.Work = Task.Run(() => RunAsync(run), CancellationToken.None);
        return Task.FromResult(true);
    }

    /// <summary>Every tick: registers (first declaring the queue) or renews the registration, and renews the leases of running tasks.</summary>
    private async Task LoopAsync(CancellationToken cancellationToken)
    {
        var registered = false;
        do
        {
            try
            {
                if (!registered && _accepting)
                {
                    var view = await _grains.GetGrain<IQueueGrain>(_queue).GetViewAsync();
                    if (!view.Declared)
                    {
                        // The worker declares the queue it serves.
                        await _grains.GetGrain<IQueueGrain>(_queue).DeclareAsync(new QueueDeclaration());
                    }
                }

                if (_accepting)
                {
                    await Worker.StartAsync(Settings());
                    if (!registered)
                    {
                        WorkerLog.LogInformationWorkerStarted(_logger, WorkerId, _concurrency, string.Join(", ", Types()));
                    }

                    registered = true;
                }
            }
            catch (Exception ex) when (ex is not OutOfMemoryException)
            {
                // Tried again on the next tick.
                WorkerLog.LogWarningWorkerCallFailed(_logger, WorkerId, "register", ex);
            }

            await RenewLeasesAsync();
        }
        while (await TickAsync(cancellationToken));
    }

    private async Task<bool> TickAsync(CancellationToken cancellationToken)
    {
        try
        {
            return await _timer!.WaitForNextTickAsync(cancellationToken);
        }
        catch (OperationCanceledException)
        {
            return false;
        }
    }

    private async Task RenewLeasesAsync()
    {
        await Task.WhenAll(Snapshot().Where(r => r.Execution is not null).Select(async run =>
        {
            try
            {
                if (!await Worker.RenewAsync(run.Dispatch.TaskId, run.Execution!.LeaseId))
                {
                    // Re-dispatched, cancelled or timed out meanwhile: stop the handler, acknowledge nothing.
                    await run.Cancel.CancelAsync();
                }
            }
            catch (Exception ex) when (ex is not OutOfMemoryException)
            {
                // The next tick tries again; the lease outlives a few missed renewals.
                WorkerLog.LogWarningWorkerCallFailed(_logger, WorkerId, "renew", ex);
            }
        }));
    }

    private async Task RunAsync(Run run)
    {
        var started = Stopwatch.GetTimestamp();
        TaskExecution? claimed = null;
        RunResult? result = null;
        try
        {
            claimed = await Worker.ClaimAsync(run.Dispatch);
            if (claimed is not null)
            {
                if (claimed.HeartbeatInterval > TimeSpan.Zero && claimed.HeartbeatInterval < _timer!.Period)
                {
                    // The cluster's lease wants renewals at least this often.
                    _timer.Period = claimed.HeartbeatInterval;
                }

                run.Execution = claimed;
                result = await HandleAsync(claimed, run.Cancel.Token);
            }
        }
        catch (OperationCanceledException) when (run.Cancel.IsCancellationRequested)
        {
            // Lease lost or the host stopped: nothing to acknowledge; the cluster runs it again.
            result = null;
        }
        catch (Exception ex) when (ex is not OutOfMemoryException)
        {
            // The claim failed: if it was stored, its lease expires unrenewed and the task runs again.
            WorkerLog.LogWarningWorkerCallFailed(_logger, WorkerId, "claim", ex);
        }
        finally
        {
            lock (_gate)
            {
                _running.Remove(run.Dispatch.TaskId);
            }
        }

        try
        {
            var execution = result is null ? null : claimed;
            await _finish.ExecuteAsync(
                async (state, _) => await Worker.FinishAsync(state.Dispatch, state.Execution, state.Outcome, state.Payload, state.Elapsed),
                (run.Dispatch, Execution: execution, Outcome: result?.Outcome ?? RunOutcome.Failed, result?.Payload, Elapsed: Stopwatch.GetElapsedTime(started)),
                CancellationToken.None);
        }
        catch (Exception ex) when (ex is not OutOfMemoryException)
        {
            WorkerLog.LogWarningWorkerCallFailed(_logger, WorkerId, "finish", ex);
        }
    }

    /// <summary>
    /// Runs the claimed task's handler under its time limit. A type this worker has no handler for fails
    /// the attempt (retried, maybe on a worker that has one); arguments that are not JSON fail it for good.
    /// </summary>
    private async Task<RunResult> HandleAsync(TaskExecution claimed, CancellationToken cancellationToken)
    {
        if (_handlers.Find(claimed.Type) is not { } handler)
        {
            return new RunResult(RunOutcome.Failed, $"worker '{WorkerId}' has no handler for task type '{claimed.Type}' (it serves: {string.Join(", ", Types())})");
        }

        System.Text.Json.JsonElement args;
        try
        {
            args = TaskHandlerRegistry.ParseAny(claimed.Args);
        }
        catch (TaskValidationException ex)
        {
            return new RunResult(RunOutcome.FailedPermanently, ex.Message);
        }

        return await HandlerRunner.RunAsync(handler, new TaskRunContext(claimed.TaskId, args, claimed.Attempt, _time, Random.Shared), claimed.TimeLimit, cancellationToken);
    }

    private WorkerSettings Settings() => new(_concurrency, _options.Weight) { Observer = _reference, TaskTypes = Types() };

    private string[] Types() => [.. _handlers.Handlers.Select(h => h.Name).Order(StringComparer.Ordinal)];

    private List<Run> Snapshot()
    {
        lock (_gate)
        {
            return [.. _running.Values];
        }
    }

    private List<Task> RunningTasks() => [.. Snapshot().Select(r => r.Work ?? Task.CompletedTask)];

    /// <summary>One accepted dispatch.</summary>
    private sealed class Run(TaskDispatch dispatch)
    {
        public TaskDispatch Dispatch { get; } = dispatch;

        public CancellationTokenSource Cancel { get; } = new();

        public TaskExecution? Execution { get; set; }

        public Task? Work { get; set; }
    }
}
