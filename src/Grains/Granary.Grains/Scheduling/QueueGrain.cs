using Granary.LoadBalancing;
using Microsoft.Extensions.Options;
using Orleans.Concurrency;

namespace Granary.Scheduling;

/// <summary>
/// Implements <see cref="IQueueGrain"/>: a queue's balancer and partition count (durable) and its
/// live workers (soft state rebuilt from worker heartbeats, so nothing is lost with it).
/// </summary>
[Reentrant]
[GrainType("granary.scheduling.queue")]
[KeyIsName("queue", MaxLength = Limits.Scheduling.MaxQueueNameLength)]
public sealed class QueueGrain(
    [PersistentState("task-queue", GranaryStorage.Default)] IPersistentState<QueueState> state,
    IOptions<SchedulingOptions> options,
    TimeProvider time) : Grain, IQueueGrain
{
    private static readonly TimeSpan WorkerExpiry = TimeSpan.FromSeconds(6);
    private readonly Dictionary<string, (WorkerInfo Info, DateTimeOffset Seen)> _workers = new(StringComparer.Ordinal);
    private bool _registered;
    private Task? _markInUse;

    /// <inheritdoc/>
    public override async Task OnActivateAsync(CancellationToken cancellationToken)
    {
        await EnsureRegisteredAsync();
    }

    /// <inheritdoc/>
    public async Task<QueueSettings> GetSettingsAsync()
    {
        if (!state.State.InUse)
        {
            // Reentrant: concurrent first callers share one write.
            _markInUse ??= MarkInUseAsync();
            await _markInUse;
        }

        return Current();
    }

    /// <inheritdoc/>
    public async Task<QueueSettings> ConfigureAsync(QueueSettings settings)
    {
        if (settings is null || !LoadBalancerFactory.TryParse(settings.Balancer, out var strategy))
        {
            throw new TaskRejectedException("balancer", $"unknown strategy '{settings?.Balancer}'; valid: {string.Join(", ", LoadBalancerFactory.Names)}");
        }

        var current = Current();
        var least = state.State.InUse ? current.Partitions : 1;
        if (settings.Partitions < least || settings.Partitions > Limits.Scheduling.MaxPartitions)
        {
            throw new TaskRejectedException("partitions", $"is {settings.Partitions}; it must be between {least} and {Limits.Scheduling.MaxPartitions} (partitions in use never shrink: waiting tasks live in them)");
        }

        state.State.Balancer = LoadBalancerFactory.GetName(strategy);
        state.State.Partitions = settings.Partitions;
        await state.WriteStateAsync();
        return Current();
    }

    /// <inheritdoc/>
    public Task RegisterWorkerAsync(WorkerInfo worker)
    {
        ArgumentNullException.ThrowIfNull(worker);
        _workers[worker.Id] = (worker, time.GetUtcNow());
        return Task.CompletedTask;
    }

    /// <inheritdoc/>
    public Task UnregisterWorkerAsync(string workerId)
    {
        _workers.Remove(workerId);
        return Task.CompletedTask;
    }

    /// <inheritdoc/>
    public Task<IReadOnlyList<WorkerInfo>> GetWorkersAsync()
    {
        var now = time.GetUtcNow();
        foreach (var stale in _workers.Where(kv => now - kv.Value.Seen > WorkerExpiry).Select(kv => kv.Key).ToList())
        {
            _workers.Remove(stale);
        }

        return Task.FromResult<IReadOnlyList<WorkerInfo>>([.. _workers.Values.Select(v => v.Info).OrderBy(w => w.Id, StringComparer.Ordinal)]);
    }

    /// <inheritdoc/>
    public async Task TickAsync()
    {
        await EnsureRegisteredAsync();
        var key = this.GetPrimaryKeyString();
        await Task.WhenAll(Enumerable.Range(0, Current().Partitions).Select(p => GrainFactory.GetGrain<ISchedulerGrain>($"{key}/{p}").TickAsync()));
    }

    /// <inheritdoc/>
    public async Task<IReadOnlyList<SchedulerSnapshot>> GetSnapshotsAsync()
    {
        var key = this.GetPrimaryKeyString();
        return await Task.WhenAll(Enumerable.Range(0, Current().Partitions).Select(p => GrainFactory.GetGrain<ISchedulerGrain>($"{key}/{p}").GetSnapshotAsync()));
    }

    private async Task MarkInUseAsync()
    {
        state.State.Partitions = Current().Partitions;
        state.State.InUse = true;
        await state.WriteStateAsync();
    }

    private async Task EnsureRegisteredAsync()
    {
        if (!_registered)
        {
            await GrainFactory.GetGrain<ISchedulingDirectoryGrain>(0).AddQueueAsync(this.GetPrimaryKeyString());
            _registered = true;
        }
    }

    private QueueSettings Current() => new(
        state.State.Balancer ?? options.Value.DefaultBalancer,
        state.State.Partitions > 0 ? state.State.Partitions : options.Value.DefaultPartitions);
}
