using Granary.Errors;
using Microsoft.Extensions.Logging;
using Microsoft.Extensions.Options;
using Orleans.Concurrency;

namespace Granary.Queues;

/// <summary>
/// Implements <see cref="IQueueGrain"/>: the queue's persisted definition and the consumer side.
/// Reentrant so that many long-polling consumers wait at once; all its fields are touched only on
/// the grain's scheduler.
/// </summary>
[Reentrant]
[GrainType("granary.queues.queue")]
[KeyIsName("queue")]
public sealed class QueueGrain(
    [PersistentState("queue-definition", GranaryStorage.Default)] IPersistentState<QueueDefinitionState> state,
    IOptions<QueueOptions> options,
    TimeProvider time,
    ILogger<QueueGrain> logger) : Grain, IQueueGrain
{
    private static readonly TimeSpan MinimumWait = TimeSpan.FromMilliseconds(10);

    private Task? _creating;
    private bool[] _empty = [];
    private DateTimeOffset?[] _wakeUp = [];
    private long[] _notifications = [];
    private long _allNotifications;
    private int _cursor;

    // Long-polling consumers, oldest first. A notification wakes one; a consumer that leaves
    // messages behind wakes the next, so an arrival does not stampede every waiter.
    private readonly LinkedList<TaskCompletionSource> _waiters = new();

    /// <inheritdoc/>
    public async Task<QueueInfo> CreateAsync(QueueDefinition definition)
    {
        ArgumentNullException.ThrowIfNull(definition);
        var name = ValidateName(this.GetPrimaryKeyString());
        var defaults = options.Value;
        var partitions = definition.Partitions == 0 ? defaults.DefaultPartitions : definition.Partitions;
        var maxDeliveries = definition.MaxDeliveries == 0 ? defaults.DefaultMaxDeliveries : definition.MaxDeliveries;
        var window = definition.DeduplicationWindow ?? defaults.DefaultDeduplicationWindow;
        var maxDepth = definition.MaxDepth == 0 ? defaults.DefaultMaxDepth : definition.MaxDepth;
        Guard.InRange(partitions, "partitions", 1, Limits.Queues.MaxPartitions);
        Guard.InRange(maxDeliveries, "maxDeliveries", 1, Limits.Queues.MaxDeliveries);
        Guard.InRange(window, "deduplicationWindow", TimeSpan.Zero, Limits.Queues.MaxDeduplicationWindow);
        Guard.InRange(maxDepth, "maxDepth", 1, defaults.MaxDepthCeiling);

        if (state.State.Info is not null)
        {
            var existing = WithDefaults(state.State.Info);
            if (existing.Partitions != partitions || existing.MaxDeliveries != maxDeliveries || existing.DeduplicationWindow != window || existing.MaxDepth != maxDepth)
            {
                throw new InvalidRequestException("definition", $"queue '{name}' already exists with {existing.Partitions} partitions, max deliveries {existing.MaxDeliveries}, dedup window {existing.DeduplicationWindow}, max depth {existing.MaxDepth}");
            }

            // A create whose write is still in flight: this answer is only as good as that write.
            await (_creating ?? Task.CompletedTask);
            return existing;
        }

        var info = new QueueInfo(name, partitions, maxDeliveries, window, time.GetUtcNow(), maxDepth);
        state.State.Info = info;
        var creating = _creating = WriteDefinitionAsync();
        try
        {
            await creating;
        }
        finally
        {
            _creating = null;
        }

        QueueLog.LogInformationCreated(logger, name, partitions);
        return info;
    }

    /// <inheritdoc/>
    public async Task<QueueInfo> GetInfoAsync()
    {
        // Never hand out a definition that is not stored yet (its write may still fail).
        if (_creating is { } creating)
        {
            await Task.WhenAny(creating);
        }

        return RequireInfo();
    }

    private async Task WriteDefinitionAsync()
    {
        try
        {
            await state.WriteStateAsync();
        }
        catch
        {
            state.State.Info = null;
            throw;
        }
    }

    /// <inheritdoc/>
    public async Task<IReadOnlyList<QueueDelivery>> DequeueAsync(string consumer, int max, TimeSpan visibilityTimeout, TimeSpan wait, CancellationToken cancellationToken = default)
    {
        Guard.Name(consumer, nameof(consumer), Limits.MaxKeyLength);
        Guard.InRange(max, nameof(max), 1, Limits.MaxBatchSize);
        Guard.InRange(visibilityTimeout, nameof(visibilityTimeout), TimeSpan.FromMilliseconds(1), Limits.Queues.MaxVisibilityTimeout);
        Guard.InRange(wait, nameof(wait), TimeSpan.Zero, Limits.Queues.MaxWait);
        var info = RequireInfo();
        var deadline = time.GetUtcNow() + wait;
        while (true)
        {
            // A caller that gave up leases nothing more: what it would lease would wait out its visibility timeout.
            cancellationToken.ThrowIfCancellationRequested();
            var notificationsBefore = _allNotifications;
            var leased = await SweepAsync(info, consumer, max, visibilityTimeout);
            var now = time.GetUtcNow();
            if (leased.Count > 0 || now >= deadline)
            {
                if (leased.Count > 0 && _empty.Any(e => !e))
                {
                    WakeOne();
                }

                return leased;
            }

            if (_allNotifications != notificationsBefore)
            {
                continue; // something arrived while this sweep was under way
            }

            var wakeAt = deadline;
            foreach (var at in _wakeUp)
            {
                if (at is { } t && t < wakeAt)
                {
                    wakeAt = t;
                }
            }

            var pause = wakeAt - now;
            var waiter = _waiters.AddLast(NewSignal());
            try
            {
                await Task.WhenAny(waiter.Value.Task, Task.Delay(pause < MinimumWait ? MinimumWait : pause, time, cancellationToken));
            }
            finally
            {
                if (waiter.List is not null)
                {
                    _waiters.Remove(waiter);
                }
            }
        }
    }

    /// <inheritdoc/>
    public Task NotifyAvailableAsync(int partition)
    {
        if (partition >= 0 && partition < _empty.Length)
        {
            _empty[partition] = false;
            _notifications[partition]++;
        }

        _allNotifications++;
        WakeOne();
        return Task.CompletedTask;
    }

    private void WakeOne()
    {
        if (_waiters.First is { } first)
        {
            _waiters.RemoveFirst();
            first.Value.TrySetResult();
        }
    }

    /// <inheritdoc/>
    public async Task<QueueStats> GetStatsAsync()
    {
        var info = RequireInfo();
        var stats = await Task.WhenAll(Partitions(info).Select(p => p.GetStatsAsync()));
        return new QueueStats(info.Name, stats);
    }

    /// <inheritdoc/>
    public async Task<IReadOnlyList<DeadLetterMessage>> GetDeadLettersAsync(int limit)
    {
        Guard.InRange(limit, nameof(limit), 0, Limits.MaxBatchSize);
        var info = RequireInfo();
        var lists = await Task.WhenAll(Partitions(info).Select(p => p.GetDeadLettersAsync(limit)));
        return lists.SelectMany(l => l).OrderBy(m => m.EnqueuedAt).Take(limit).ToList();
    }

    /// <inheritdoc/>
    public async Task<int> PurgeDeadLettersAsync()
    {
        var info = RequireInfo();
        var counts = await Task.WhenAll(Partitions(info).Select(p => p.PurgeDeadLettersAsync()));
        return counts.Sum();
    }

    /// <inheritdoc/>
    public async Task<int> RedriveAsync(int max)
    {
        Guard.InRange(max, nameof(max), 0, int.MaxValue);
        var info = RequireInfo();
        var moved = 0;
        foreach (var partition in Partitions(info))
        {
            if (moved >= max)
            {
                break;
            }

            moved += await partition.RedriveAsync(max - moved);
        }

        return moved;
    }

    private async Task<List<QueueDelivery>> SweepAsync(QueueInfo info, string consumer, int max, TimeSpan visibilityTimeout)
    {
        EnsureHints(info.Partitions);
        var count = info.Partitions;
        var start = _cursor;
        _cursor = (_cursor + 1) % count;
        var leased = new List<QueueDelivery>();
        for (var i = 0; i < count && leased.Count < max; i++)
        {
            var p = (start + i) % count;
            var now = time.GetUtcNow();
            if (_empty[p] && !(_wakeUp[p] is { } wake && wake <= now))
            {
                continue;
            }

            var seen = _notifications[p];
            try
            {
                var result = await GrainFactory.GetGrain<IQueuePartitionGrain>(QueuePlacement.PartitionKey(info.Name, p))
                    .TryDequeueAsync(consumer, max - leased.Count, visibilityTimeout); // bounded by the method's 5 s response timeout
                leased.AddRange(result.Deliveries);
                _wakeUp[p] = result.NextWakeUp;
                if (_notifications[p] == seen)
                {
                    _empty[p] = !result.MoreAvailable;
                }
            }
            catch (Exception ex) when (ex is not GranaryException)
            {
                // A partition on a dead silo: serve the others; it is tried again on the next sweep.
                QueueLog.LogWarningPartitionUnavailable(logger, ex, info.Name, p);
            }
        }

        return leased;
    }

    private void EnsureHints(int partitions)
    {
        if (_empty.Length != partitions)
        {
            _empty = new bool[partitions];
            _wakeUp = new DateTimeOffset?[partitions];
            _notifications = new long[partitions];
        }
    }

    private IEnumerable<IQueuePartitionGrain> Partitions(QueueInfo info) =>
        Enumerable.Range(0, info.Partitions).Select(p => GrainFactory.GetGrain<IQueuePartitionGrain>(QueuePlacement.PartitionKey(info.Name, p)));

    private QueueInfo RequireInfo() =>
        WithDefaults(state.State.Info ?? throw new QueueNotFoundException(this.GetPrimaryKeyString()));

    /// <summary>A queue stored before it had a max depth gets today's default.</summary>
    private QueueInfo WithDefaults(QueueInfo info) =>
        info.MaxDepth > 0 ? info : info with { MaxDepth = options.Value.DefaultMaxDepth };

    /// <summary>Queue names: a non-empty name of at most <see cref="Limits.MaxKeyLength"/> characters without '/'.</summary>
    internal static string ValidateName(string name)
    {
        Guard.Name(name, "queue", Limits.MaxKeyLength);
        if (name.Contains('/', StringComparison.Ordinal))
        {
            throw new InvalidRequestException("queue", $"'{name}' must not contain '/'");
        }

        return name;
    }

    private static TaskCompletionSource NewSignal() => new(TaskCreationOptions.RunContinuationsAsynchronously);
}
