using System.Diagnostics;
using System.Globalization;
using Granary.Durability;
using Microsoft.Extensions.Logging;
using Microsoft.Extensions.Options;
using Orleans.Concurrency;
using Orleans.Storage;

namespace Granary.Scheduling;

/// <summary>
/// Implements <see cref="ISchedulerGrain"/> for one partition (<c>queue/p</c>) of a queue. Waiting
/// tasks are ordered by priority then arrival; tasks with an ETA wait in a time-ordered set and are
/// never dispatched before it. Dispatch goes through a <see cref="WorkerDispatcher"/> (the queue's
/// balancer, with per-worker capacity). State writes are group-committed. A sweep asks the task
/// grains about tasks that are out with workers, which also re-activates task grains whose silo
/// died so their leases can expire and re-dispatch them.
/// </summary>
/// <remarks>
/// A partition holding work is marked active in its queue grain (stored before the first enqueue of
/// an activation is answered), which is how the keeper finds it again after its silo dies. A
/// partition that has held nothing for <see cref="SchedulingOptions.SchedulerIdleTimeout"/> clears
/// the mark and deactivates, so its timer stops: idle queues cost no timers.
/// </remarks>
[Reentrant]
[GrainType("granary.scheduling.scheduler")]
public sealed class SchedulerGrain(
    [PersistentState("task-scheduler", GranaryStorage.Default)] IPersistentState<SchedulerState> state,
    IOptions<SchedulingOptions> options,
    TimeProvider time,
    ILogger<SchedulerGrain> logger) : Grain, ISchedulerGrain
{
    private static readonly TimeSpan PumpPeriod = TimeSpan.FromMilliseconds(250);
    private static readonly TimeSpan WorkerRefreshPeriod = TimeSpan.FromSeconds(1);
    private static readonly TimeSpan SweepAge = TimeSpan.FromSeconds(3);
    private static readonly TimeSpan DispatchTimeout = TimeSpan.FromSeconds(3);
    private static readonly TimeSpan SuspendFor = TimeSpan.FromSeconds(10);

    private readonly SortedSet<(int NegPriority, long Seq, string Id)> _ready = [];
    private readonly SortedSet<(DateTimeOffset Eta, long Seq, string Id)> _delayed = [];
    private readonly Dictionary<string, long> _seqOf = new(StringComparer.Ordinal);
    private readonly Dictionary<string, DateTimeOffset> _suspended = new(StringComparer.Ordinal);
    private readonly Dictionary<long, (string Worker, long Started)> _loads = [];
    private readonly Dictionary<string, DateTimeOffset> _lastChecked = new(StringComparer.Ordinal);
    private GroupCommit _commit = null!;
    private WorkerDispatcher _dispatcher = null!;
    private QueueSettings? _settings;
    private DateTimeOffset _workersRefreshedAt = DateTimeOffset.MinValue;
    private long _seq;
    private bool _sweeping;
    private bool _refreshing;
    private Task? _marked;
    private Task? _retiring;
    private DateTimeOffset? _idleSince;

    private string Queue => this.GetPrimaryKeyString().Split('/')[0];

    private int Partition => int.Parse(this.GetPrimaryKeyString().Split('/')[1], CultureInfo.InvariantCulture);

    private bool HoldsWork => state.State.Waiting.Count > 0 || state.State.InFlight.Count > 0;

    /// <inheritdoc/>
    public override async Task OnActivateAsync(CancellationToken cancellationToken)
    {
        _commit = new GroupCommit(async () =>
        {
            try
            {
                await state.WriteStateAsync();
            }
            catch (InconsistentStateException ex)
            {
                DeactivateIfStale(ex);
                throw;
            }
        });
        // Woken by its first task: it dispatches to the queue's live workers from the start.
        var view = await GrainFactory.GetGrain<IQueueGrain>(Queue).GetViewAsync();
        _dispatcher = new WorkerDispatcher(view.Settings.Balancer);
        UseWorkers(view, time.GetUtcNow());
        foreach (var task in state.State.Waiting.Values)
        {
            Index(task);
        }

        if (HoldsWork)
        {
            await MarkActiveAsync();
        }

        this.RegisterGrainTimer(OnTimerAsync, new GrainTimerCreationOptions(PumpPeriod, PumpPeriod) { Interleave = true, KeepAlive = true });
    }

    /// <inheritdoc/>
    public async Task EnqueueAsync(QueuedTask task)
    {
        ArgumentNullException.ThrowIfNull(task);
        var changed = Land(task.TaskId, success: false);
        if (!state.State.Waiting.TryGetValue(task.TaskId, out var existing) || existing != task)
        {
            state.State.Waiting[task.TaskId] = task;
            Index(task);
            changed = true;
        }

        Pump();

        // Answered once the task is stored here and the queue knows this partition holds work.
        await Task.WhenAll(changed ? _commit.CommitAsync() : Task.CompletedTask, MarkActiveAsync());
    }

    /// <inheritdoc/>
    public async Task ForgetAsync(string taskId)
    {
        var changed = state.State.Waiting.Remove(taskId) | Land(taskId, success: true);
        _seqOf.Remove(taskId);
        _lastChecked.Remove(taskId);
        if (changed)
        {
            await _commit.CommitAsync();
        }
    }

    /// <inheritdoc/>
    public Task WorkerDoneAsync(string taskId, long dispatchId, string workerId, TimeSpan elapsed, bool success)
    {
        // Frees the worker's slot only. The in-flight entry stays until the task grain reports the
        // outcome (ForgetAsync or EnqueueAsync), so a task grain that dies between storing its new
        // state and telling the queue is still found by the sweep. This notice is the early release:
        // when it is lost (a call failing while a dead silo's directory is taken over), the slot is
        // freed when the in-flight entry lands (Land).
        Release(dispatchId, success);
        Pump();
        return Task.CompletedTask;
    }

    /// <inheritdoc/>
    public Task TickAsync()
    {
        Pump();
        return Task.CompletedTask;
    }

    /// <inheritdoc/>
    public Task<SchedulerSnapshot> GetSnapshotAsync()
    {
        var perWorker = _dispatcher.Workers.ToDictionary(w => w.Id, w => _dispatcher.Dispatched(w.Id), StringComparer.Ordinal);
        return Task.FromResult(new SchedulerSnapshot(
            this.GetPrimaryKeyString(),
            _dispatcher.Strategy,
            state.State.Waiting.Count,
            state.State.InFlight.Count,
            [.. state.State.Waiting.Keys.Take(100)],
            [.. state.State.InFlight.Keys.Take(100)],
            perWorker));
    }

    private async Task OnTimerAsync(CancellationToken cancellationToken)
    {
        var now = time.GetUtcNow();
        if (now - _workersRefreshedAt >= WorkerRefreshPeriod && !_refreshing)
        {
            _refreshing = true;
            try
            {
                await RefreshWorkersAsync(now);
            }
            finally
            {
                _refreshing = false;
            }
        }

        Pump();
        if (!_sweeping && state.State.InFlight.Count > 0)
        {
            _sweeping = true;
            try
            {
                await SweepAsync(now);
            }
            finally
            {
                _sweeping = false;
            }
        }

        if (HoldsWork)
        {
            _idleSince = null;
        }
        else if (_retiring is null && now - (_idleSince ??= now) >= options.Value.SchedulerIdleTimeout)
        {
            var retiring = RetireAsync();
            _retiring = retiring;
            await retiring;
            _retiring = null;
        }
    }

    /// <summary>
    /// Stores (once per activation) that this partition holds work, so the keeper re-activates it
    /// after its silo dies. After a retirement began, waits for it to finish first, so the queue
    /// hears "idle" and "active" in that order.
    /// </summary>
    private Task MarkActiveAsync()
    {
        if (_marked is { IsFaulted: false } marked)
        {
            return marked;
        }

        return _marked = MarkAsync(_retiring);

        async Task MarkAsync(Task? retiring)
        {
            if (retiring is not null)
            {
                await retiring;
            }

            await GrainFactory.GetGrain<IQueueGrain>(Queue).SetPartitionActiveAsync(Partition, true);
        }
    }

    /// <summary>Idle for the idle timeout: clears the active mark and lets the activation (and its timer) go, unless work arrived meanwhile.</summary>
    private async Task RetireAsync()
    {
        _marked = null;
        try
        {
            await _commit.DurableAsync();
            await GrainFactory.GetGrain<IQueueGrain>(Queue).SetPartitionActiveAsync(Partition, false);
            if (!HoldsWork && _marked is null)
            {
                SchedulingLog.LogDebugSchedulerRetired(logger, this.GetPrimaryKeyString());
                DeactivateOnIdle();
            }
        }
        catch (Exception ex) when (ex is not OutOfMemoryException)
        {
            SchedulingLog.LogWarningSchedulerRetireFailed(logger, this.GetPrimaryKeyString(), ex);
        }
        finally
        {
            _idleSince = null;
        }
    }

    private async Task RefreshWorkersAsync(DateTimeOffset now)
    {
        UseWorkers(await GrainFactory.GetGrain<IQueueGrain>(Queue).GetViewAsync(), now);
    }

    private void UseWorkers(QueueView view, DateTimeOffset now)
    {
        var settings = view.Settings;
        if (!string.Equals(settings.Balancer, _dispatcher.Strategy, StringComparison.Ordinal))
        {
            // A new balancer starts with no history; in-flight dispatches are released by dispatch id as before.
            _dispatcher = new WorkerDispatcher(settings.Balancer);
            _loads.Clear();
        }

        _settings = settings;
        foreach (var expired in _suspended.Where(kv => kv.Value <= now).Select(kv => kv.Key).ToList())
        {
            _suspended.Remove(expired);
        }

        var workers = view.Workers;
        // Every partition of the queue dispatches to the same workers: each gets an equal share of a
        // worker's slots, so together they do not overfill it (a full worker refuses the dispatch).
        var partitions = Math.Max(1, settings.Partitions);
        _dispatcher.SetWorkers([.. workers.Where(w => !_suspended.ContainsKey(w.Id)).Select(w => new WorkerSlot(w.Id, w.Weight, Math.Max(1, (w.Capacity + partitions - 1) / partitions)))]);
        _workersRefreshedAt = now;
    }

    private void Pump()
    {
        if (_dispatcher is null)
        {
            return;
        }

        var now = time.GetUtcNow();
        while (_delayed.Count > 0 && _delayed.Min.Eta <= now)
        {
            var (_, seq, id) = _delayed.Min;
            _delayed.Remove(_delayed.Min);
            if (_seqOf.TryGetValue(id, out var current) && current == seq && state.State.Waiting.TryGetValue(id, out var task))
            {
                _ready.Add((-task.Priority, seq, id));
            }
        }

        var dispatched = false;
        while (_ready.Count > 0)
        {
            var (_, seq, id) = _ready.Min;
            if (!_seqOf.TryGetValue(id, out var current) || current != seq || !state.State.Waiting.TryGetValue(id, out var task))
            {
                _ready.Remove(_ready.Min);
                continue;
            }

            var worker = _dispatcher.Pick(task.Key ?? id);
            if (worker is null)
            {
                break;
            }

            _ready.Remove(_ready.Min);
            _seqOf.Remove(id);
            state.State.Waiting.Remove(id);
            var dispatchId = ++state.State.LastDispatchId;
            state.State.InFlight[id] = new InFlightTask(task, worker, dispatchId, now);
            _loads[dispatchId] = (worker, Stopwatch.GetTimestamp());
            dispatched = true;
            _ = DispatchAsync(task, worker, dispatchId);
        }

        if (dispatched)
        {
            _ = SaveQuietlyAsync();
        }
    }

    private async Task DispatchAsync(QueuedTask task, string worker, long dispatchId)
    {
        try
        {
            var accepted = await GrainFactory.GetGrain<IWorkerGrain>(worker)
                .ExecuteAsync(new TaskDispatch(task.TaskId, this.GetPrimaryKeyString(), dispatchId))
                .WaitAsync(DispatchTimeout);
            if (accepted)
            {
                return;
            }
        }
        catch (Exception ex) when (ex is not OutOfMemoryException)
        {
            // The worker is gone (its silo died) or not answering: stop sending it work for a while.
            SchedulingLog.LogInformationDispatchFailed(logger, task.TaskId, worker, ex);
            _suspended[worker] = time.GetUtcNow() + SuspendFor;
            _dispatcher.Remove(worker);
            if (ex is WorkerUnavailableException)
            {
                _ = GrainFactory.GetGrain<IQueueGrain>(Queue).UnregisterWorkerAsync(worker);
            }
        }

        // Not taken: back to the queue (the task grain refuses a second claim if it did start).
        Release(dispatchId, success: false);
        if (state.State.InFlight.TryGetValue(task.TaskId, out var flight) && flight.DispatchId == dispatchId)
        {
            state.State.InFlight.Remove(task.TaskId);
            state.State.Waiting[task.TaskId] = task;
            Index(task);
            await SaveQuietlyAsync();
        }
    }

    private async Task SweepAsync(DateTimeOffset now)
    {
        var due = state.State.InFlight.Values
            .Where(f => now - f.DispatchedAt >= SweepAge && (!_lastChecked.TryGetValue(f.Task.TaskId, out var at) || now - at >= SweepAge))
            .Take(200)
            .ToList();
        if (due.Count == 0)
        {
            return;
        }

        var changed = false;
        foreach (var batch in due.Chunk(50))
        {
            var checks = batch.Select(async f =>
            {
                _lastChecked[f.Task.TaskId] = now;
                try
                {
                    return (f, State: await GrainFactory.GetGrain<ITaskGrain>(f.Task.TaskId).CheckAsync().WaitAsync(DispatchTimeout), Ok: true);
                }
                catch (Exception ex) when (ex is not OutOfMemoryException)
                {
                    return (f, State: (TaskState?)null, Ok: false);
                }
            }).ToList();
            foreach (var (f, taskState, ok) in await Task.WhenAll(checks))
            {
                if (!ok || !state.State.InFlight.TryGetValue(f.Task.TaskId, out var current) || current.DispatchId != f.DispatchId)
                {
                    continue;
                }

                if (taskState is null || TaskTransitions.IsTerminal(taskState.Value))
                {
                    Land(f.Task.TaskId, success: taskState == TaskState.Succeeded);
                    changed = true;
                }
                else if (TaskTransitions.IsWaiting(taskState.Value))
                {
                    // The dispatch never reached the task (worker died before claiming): queue it again.
                    Land(f.Task.TaskId, success: false);
                    state.State.Waiting[f.Task.TaskId] = f.Task;
                    Index(f.Task);
                    changed = true;
                }
            }
        }

        if (changed)
        {
            await SaveQuietlyAsync();
        }
    }

    /// <summary>
    /// The task's dispatch is over (its run ended, or never started): removes the in-flight entry and
    /// frees the worker slot it held, if the worker's done notice has not already. Returns false when
    /// the task was not in flight.
    /// </summary>
    private bool Land(string taskId, bool success)
    {
        if (!state.State.InFlight.Remove(taskId, out var flight))
        {
            return false;
        }

        Release(flight.DispatchId, success);
        return true;
    }

    private void Release(long dispatchId, bool success)
    {
        if (_loads.Remove(dispatchId, out var load))
        {
            _dispatcher.Release(load.Worker, Stopwatch.GetElapsedTime(load.Started), success);
        }
    }

    private void Index(QueuedTask task)
    {
        var seq = ++_seq;
        _seqOf[task.TaskId] = seq;
        if (task.Eta is { } eta && eta > time.GetUtcNow())
        {
            _delayed.Add((eta, seq, task.TaskId));
        }
        else
        {
            _ready.Add((-task.Priority, seq, task.TaskId));
        }
    }

    private async Task SaveQuietlyAsync()
    {
        try
        {
            await _commit.CommitAsync();
        }
        catch (Exception ex) when (ex is not OutOfMemoryException)
        {
            SchedulingLog.LogWarningTickFailed(logger, this.GetPrimaryKeyString(), ex);
            DeactivateIfStale(ex);
        }
    }

    private void DeactivateIfStale(Exception ex)
    {
        if (ex is InconsistentStateException)
        {
            // Another activation wrote meanwhile: reload from storage rather than diverge from it.
            this.DeactivateOnIdle();
        }
    }
}
