using Granary.Durability;
using Granary.Errors;
using Granary.LoadBalancing;
using Microsoft.Extensions.Logging;
using Microsoft.Extensions.Options;
using Orleans.Concurrency;

namespace Granary.Scheduling;

/// <summary>
/// Implements <see cref="IQueueGrain"/>: whether a task queue is declared, its balancer and partition
/// count, and which of its partitions hold work (durable), and its live workers (soft state rebuilt
/// from worker heartbeats, so nothing is lost with it).
/// </summary>
/// <remarks>
/// A queue is declared at run time (<see cref="DeclareAsync"/>), by the configuration of the silo
/// hosting this grain (<c>Granary:Scheduling:Queues</c>), or by having been used before declarations
/// existed. Tasks, workers and periodic tasks are refused for any other name, and the activation of an
/// undeclared name is let go at once: an invented name costs one refused call, never a scheduler, a
/// timer or a stored row. Partitions report when they hold work and when they retire idle, so the
/// keeper wakes only those.
/// </remarks>
[Reentrant]
[GrainType("granary.scheduling.queue")]
[KeyIsName("queue", MaxLength = Limits.Scheduling.MaxQueueNameLength)]
public sealed class QueueGrain(
    [PersistentState("task-queue", GranaryStorage.Default)] IPersistentState<QueueState> state,
    IOptions<SchedulingOptions> options,
    TimeProvider time,
    ILogger<QueueGrain> logger) : Grain, IQueueGrain
{
    private static readonly TimeSpan WorkerExpiry = TimeSpan.FromSeconds(6);
    private readonly Dictionary<string, (WorkerInfo Info, DateTimeOffset Seen)> _workers = new(StringComparer.Ordinal);
    private GroupCommit? _commit;
    private Task? _registered;
    private Task? _inUseWrite;
    private int _declaring;
    private bool _removing;
    private bool _activatedWhileRemoving;

    private QueueState S => state.State;

    private string Name => this.GetPrimaryKeyString();

    private GroupCommit Commit => _commit ??= new GroupCommit(() => state.WriteStateAsync());

    private bool ConfiguredHere => options.Value.Queues.Contains(Name, StringComparer.Ordinal);

    private bool Declared => !_removing && (S.Declared || S.InUse || ConfiguredHere);

    private ISchedulingDirectoryGrain Directory => GrainFactory.GetGrain<ISchedulingDirectoryGrain>(0);

    /// <inheritdoc/>
    public override async Task OnActivateAsync(CancellationToken cancellationToken)
    {
        if (!state.RecordExists)
        {
            // A new queue: its partitions report their activity from the start.
            S.PartitionsTracked = true;
        }

        if (Declared || S.ActivePartitions.Count > 0)
        {
            await EnsureRegisteredAsync();
        }
    }

    /// <inheritdoc/>
    public async Task<QueueSettings> GetSettingsAsync()
    {
        RequireDeclared();
        if (!S.InUse)
        {
            S.Partitions = Current().Partitions;
            S.InUse = true;
            _inUseWrite = Commit.CommitAsync();
        }
        else if (_inUseWrite is { IsFaulted: true })
        {
            _inUseWrite = Commit.CommitAsync();
        }

        // Reentrant: concurrent first callers share one write; a failed one is tried again by the next caller.
        if (_inUseWrite is { } write)
        {
            await write;
        }

        return Current();
    }

    /// <inheritdoc/>
    public async Task<QueueSettings> ConfigureAsync(QueueSettings settings)
    {
        if (settings is null)
        {
            throw new TaskRejectedException("settings", "must not be null");
        }

        return (await DeclareAsync(new QueueDeclaration { Balancer = settings.Balancer ?? string.Empty, Partitions = settings.Partitions })).Settings;
    }

    /// <inheritdoc/>
    public async Task<QueueView> DeclareAsync(QueueDeclaration declaration)
    {
        if (declaration is null)
        {
            throw new TaskRejectedException("declaration", "must not be null");
        }

        TaskQueueName.Check(Name);
        string? balancer = null;
        if (declaration.Balancer is { } name)
        {
            balancer = LoadBalancerFactory.TryParse(name, out var strategy)
                ? LoadBalancerFactory.GetName(strategy)
                : throw new TaskRejectedException("balancer", $"unknown strategy '{name}'; valid: {string.Join(", ", LoadBalancerFactory.Names)}");
        }

        if (declaration.Partitions is { } partitions)
        {
            var least = S.InUse ? Current().Partitions : 1;
            if (partitions < least || partitions > Limits.Scheduling.MaxPartitions)
            {
                throw new TaskRejectedException("partitions", $"is {partitions}; it must be between {least} and {Limits.Scheduling.MaxPartitions} (partitions in use never shrink: waiting tasks live in them)");
            }
        }

        if (_removing)
        {
            throw new TaskQueueInUseException(Name, "it is being removed; declare it again once that finished");
        }

        _declaring++;
        try
        {
            // The registry first: it enforces the limit on declared queues, and nothing here has changed yet if it refuses.
            await (declaration.FromConfiguration || Declared ? Directory.AddQueueAsync(Name) : Directory.DeclareQueueAsync(Name));
            _registered = Task.CompletedTask;
            var changed = !S.Declared;
            S.Declared = true;
            if (balancer is not null && !string.Equals(balancer, S.Balancer, StringComparison.Ordinal))
            {
                S.Balancer = balancer;
                changed = true;
            }

            if (declaration.Partitions is { } p && p != S.Partitions)
            {
                S.Partitions = p;
                changed = true;
            }

            // A repeat is answered once stored too: its first write may be in flight or may have failed.
            await (changed ? Commit.CommitAsync() : Commit.DurableAsync());
            if (changed)
            {
                SchedulingLog.LogInformationQueueDeclared(logger, Name, Current().Balancer, Current().Partitions);
            }
        }
        finally
        {
            _declaring--;
        }

        return View();
    }

    /// <inheritdoc/>
    public async Task RemoveAsync()
    {
        RequireDeclared();
        if (ConfiguredHere)
        {
            throw new TaskQueueInUseException(Name, "Granary:Scheduling:Queues lists it; remove it from the configuration first");
        }

        PruneWorkers();
        if (_workers.Count > 0)
        {
            throw new TaskQueueInUseException(Name, $"{_workers.Count} worker(s) serve it ({string.Join(", ", _workers.Keys.Order(StringComparer.Ordinal).Take(3))}); stop them first");
        }

        foreach (var periodic in await Directory.GetPeriodicsAsync())
        {
            var info = await TryGetPeriodicAsync(periodic);
            if (info is { Enabled: true } && string.Equals(info.Template.Queue ?? SchedulingOptions.DefaultQueue, Name, StringComparison.Ordinal))
            {
                throw new TaskQueueInUseException(Name, $"periodic task '{periodic}' submits to it; remove that first");
            }
        }

        // From here on no task is placed in it; then every partition must be empty.
        _removing = true;
        _activatedWhileRemoving = false;
        try
        {
            var snapshots = await SnapshotsAsync();
            var waiting = snapshots.Sum(s => s.Waiting);
            var running = snapshots.Sum(s => s.InFlight);
            if (waiting + running > 0)
            {
                throw new TaskQueueInUseException(Name, $"{waiting} task(s) wait and {running} run in it");
            }

            await Directory.RemoveQueueAsync(Name);
            _registered = null;
            if (_activatedWhileRemoving)
            {
                // A task placed just before the removal began reached a partition: the queue stays.
                await EnsureRegisteredAsync();
                throw new TaskQueueInUseException(Name, "a task reached it while it was being removed");
            }

            S.Declared = false;
            S.InUse = false;
            S.Balancer = null;
            S.Partitions = 0;
            S.PartitionsTracked = true;
            S.TaskTypes.Clear();
            await Commit.CommitAsync();
            SchedulingLog.LogInformationQueueRemoved(logger, Name);
        }
        finally
        {
            _removing = false;
        }

        DeactivateIfUnused();
    }

    /// <inheritdoc/>
    public Task<QueueView> GetViewAsync()
    {
        PruneWorkers();
        var view = View();
        DeactivateIfUnused();
        return Task.FromResult(view);
    }

    /// <inheritdoc/>
    public async Task SetPartitionActiveAsync(int partition, bool active)
    {
        if (partition is < 0 or >= Limits.Scheduling.MaxPartitions)
        {
            throw new TaskRejectedException("partition", $"is {partition}; it must be between 0 and {Limits.Scheduling.MaxPartitions - 1}");
        }

        bool changed;
        if (active)
        {
            changed = S.ActivePartitions.Add(partition);
            if (_removing)
            {
                _activatedWhileRemoving = true;
            }
            else if (!Declared)
            {
                // A task reached the queue after it was removed (placed just before): the queue is
                // declared again, so it is listed, kept active, and can be served.
                S.Declared = true;
                changed = true;
                _registered = null;
                SchedulingLog.LogWarningQueueRedeclared(logger, Name, partition);
            }

            await EnsureRegisteredAsync();
        }
        else
        {
            changed = S.ActivePartitions.Remove(partition);
        }

        await (changed ? Commit.CommitAsync() : Commit.DurableAsync());
    }

    /// <inheritdoc/>
    public async Task RegisterWorkerAsync(WorkerInfo worker)
    {
        ArgumentNullException.ThrowIfNull(worker);
        RequireDeclared();
        var added = false;
        foreach (var type in worker.TaskTypes ?? [])
        {
            Guard.Name(type, "taskTypes", Limits.Scheduling.MaxTaskTypeLength);
            if (!S.TaskTypes.Contains(type))
            {
                if (S.TaskTypes.Count >= Limits.Scheduling.MaxDeclaredTaskTypes)
                {
                    throw new TaskRejectedException("taskTypes", $"queue '{Name}' already has {S.TaskTypes.Count} declared task types; the limit is {Limits.Scheduling.MaxDeclaredTaskTypes}");
                }

                added |= S.TaskTypes.Add(type);
            }
        }

        // Stored before the worker counts as registered: a type it serves is never refused afterwards.
        await (added ? Commit.CommitAsync() : Task.CompletedTask);
        _workers[worker.Id] = (worker, time.GetUtcNow());
    }

    /// <inheritdoc/>
    public Task<IReadOnlyList<string>> GetTaskTypesAsync()
    {
        RequireDeclared();
        return Task.FromResult<IReadOnlyList<string>>([.. S.TaskTypes.Order(StringComparer.Ordinal)]);
    }

    /// <inheritdoc/>
    public Task UnregisterWorkerAsync(string workerId)
    {
        _workers.Remove(workerId);
        DeactivateIfUnused();
        return Task.CompletedTask;
    }

    /// <inheritdoc/>
    public Task<IReadOnlyList<WorkerInfo>> GetWorkersAsync()
    {
        RequireDeclared();
        PruneWorkers();
        return Task.FromResult(Workers());
    }

    /// <inheritdoc/>
    public async Task TickAsync()
    {
        if (!Declared && S.ActivePartitions.Count == 0 && S.PartitionsTracked && _declaring == 0)
        {
            // Removed, or a declaration that never got stored: nothing here to keep active.
            await Directory.RemoveQueueAsync(Name);
            _registered = null;
            DeactivateIfUnused();
            return;
        }

        await EnsureRegisteredAsync();
        var key = this.GetPrimaryKeyString();
        List<int> partitions = S.PartitionsTracked ? [.. S.ActivePartitions] : [.. Enumerable.Range(0, Current().Partitions)];
        await Task.WhenAll(partitions.Select(p => GrainFactory.GetGrain<ISchedulerGrain>($"{key}/{p}").TickAsync()));
        if (!S.PartitionsTracked)
        {
            // Every partition has been woken once and those holding work have reported it.
            S.PartitionsTracked = true;
            await Commit.CommitAsync();
        }
    }

    /// <inheritdoc/>
    public async Task<IReadOnlyList<SchedulerSnapshot>> GetSnapshotsAsync()
    {
        RequireDeclared();
        return await SnapshotsAsync();
    }

    private async Task<IReadOnlyList<SchedulerSnapshot>> SnapshotsAsync()
    {
        var key = this.GetPrimaryKeyString();
        var settings = Current();

        // A partition that is not active holds no work: it is reported empty rather than woken.
        return await Task.WhenAll(Enumerable.Range(0, settings.Partitions).Select(p =>
            !S.PartitionsTracked || S.ActivePartitions.Contains(p)
                ? GrainFactory.GetGrain<ISchedulerGrain>($"{key}/{p}").GetSnapshotAsync()
                : Task.FromResult(new SchedulerSnapshot($"{key}/{p}", settings.Balancer, 0, 0, [], [], new Dictionary<string, long>(StringComparer.Ordinal)))));
    }

    private async Task<PeriodicTaskInfo?> TryGetPeriodicAsync(string name)
    {
        try
        {
            return await GrainFactory.GetGrain<IPeriodicTaskGrain>(name).GetAsync();
        }
        catch (TaskNotFoundException)
        {
            return null;
        }
    }

    private void RequireDeclared()
    {
        if (!Declared)
        {
            DeactivateIfUnused();
            throw new TaskQueueNotFoundException(Name);
        }
    }

    /// <summary>An undeclared name with nothing in it: let the activation go rather than keep it for the collector.</summary>
    private void DeactivateIfUnused()
    {
        if (!Declared && !_removing && _declaring == 0 && S.ActivePartitions.Count == 0 && _workers.Count == 0)
        {
            DeactivateOnIdle();
        }
    }

    private Task EnsureRegisteredAsync() =>
        _registered = _registered is { IsFaulted: false } registered ? registered : Directory.AddQueueAsync(Name);

    private void PruneWorkers()
    {
        var now = time.GetUtcNow();
        foreach (var stale in _workers.Where(kv => now - kv.Value.Seen > WorkerExpiry).Select(kv => kv.Key).ToList())
        {
            _workers.Remove(stale);
        }
    }

    private IReadOnlyList<WorkerInfo> Workers() => [.. _workers.Values.Select(v => v.Info).OrderBy(w => w.Id, StringComparer.Ordinal)];

    private QueueView View() => new(Name, Declared, ConfiguredHere, Current(), Workers(), [.. S.ActivePartitions.Order()]);

    private QueueSettings Current() => new(
        S.Balancer ?? options.Value.DefaultBalancer,
        S.Partitions > 0 ? S.Partitions : options.Value.DefaultPartitions);
}
