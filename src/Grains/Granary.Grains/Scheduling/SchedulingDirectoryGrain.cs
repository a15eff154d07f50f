using Granary.Durability;
using Granary.Errors;
using Microsoft.Extensions.Logging;
using Microsoft.Extensions.Options;
using Orleans.Concurrency;

namespace Granary.Scheduling;

/// <summary>
/// Implements <see cref="ISchedulingDirectoryGrain"/>: the durable registry of declared task queues
/// and of periodic tasks, both bounded, which every silo's keeper walks to keep queues, their
/// partitions that hold work and the periodic tasks active; that is what brings them back on a
/// surviving silo after the one hosting them dies.
/// </summary>
[Reentrant]
[GrainType("granary.scheduling.scheduling-directory")]
public sealed class SchedulingDirectoryGrain(
    [PersistentState("task-directory", GranaryStorage.Default)] IPersistentState<SchedulingDirectoryState> state,
    IOptions<SchedulingOptions> options,
    ILogger<SchedulingDirectoryGrain> logger) : Grain, ISchedulingDirectoryGrain
{
    private GroupCommit? _commit;

    private GroupCommit Commit => _commit ??= new GroupCommit(() => state.WriteStateAsync());

    private static readonly TimeSpan TickTimeout = TimeSpan.FromSeconds(5);
    private bool _ticking;

    /// <inheritdoc/>
    public async Task AddQueueAsync(string queue)
    {
        // A repeat is answered once stored too: its first write may be in flight or may have failed.
        await (state.State.Queues.Add(queue) ? Commit.CommitAsync() : Commit.DurableAsync());
    }

    /// <inheritdoc/>
    public Task DeclareQueueAsync(string queue)
    {
        Admit(state.State.Queues, queue, Limits.Scheduling.MaxDeclaredQueues, "task queues");
        return AddQueueAsync(queue);
    }

    /// <inheritdoc/>
    public async Task RemoveQueueAsync(string queue)
    {
        await (state.State.Queues.Remove(queue) ? Commit.CommitAsync() : Commit.DurableAsync());
    }

    /// <inheritdoc/>
    public async Task SetPeriodicAsync(string name, bool present)
    {
        if (present)
        {
            Admit(state.State.Periodics, name, Limits.Scheduling.MaxPeriodicTasks, "periodic tasks");
        }

        await ((present ? state.State.Periodics.Add(name) : state.State.Periodics.Remove(name)) ? Commit.CommitAsync() : Commit.DurableAsync());
    }

    /// <inheritdoc/>
    public Task<IReadOnlyList<string>> GetQueuesAsync() => Task.FromResult<IReadOnlyList<string>>([.. Queues().Order(StringComparer.Ordinal)]);

    /// <inheritdoc/>
    public Task<IReadOnlyList<string>> GetPeriodicsAsync() => Task.FromResult<IReadOnlyList<string>>([.. state.State.Periodics.Order(StringComparer.Ordinal)]);

    /// <summary>The stored names, and the queues this silo's configuration lists (declared by it even before its keeper stored them).</summary>
    private IEnumerable<string> Queues() => state.State.Queues.Union(options.Value.Queues, StringComparer.Ordinal);

    private static void Admit(HashSet<string> names, string name, int limit, string what)
    {
        if (!names.Contains(name) && names.Count >= limit)
        {
            throw new GranaryException(ErrorCodes.ResourceExhausted, $"{names.Count} {what} exist, the limit is {limit}; remove one first");
        }
    }

    /// <inheritdoc/>
    public async Task TickAsync()
    {
        if (_ticking)
        {
            return; // several silos tick; one walk at a time is enough
        }

        _ticking = true;
        try
        {
            var targets = Queues().Select(q => (Name: "queue " + q, Tick: (Func<Task>)(() => GrainFactory.GetGrain<IQueueGrain>(q).TickAsync())))
                .Concat(state.State.Periodics.Select(p => (Name: "periodic " + p, Tick: (Func<Task>)(() => GrainFactory.GetGrain<IPeriodicTaskGrain>(p).TickAsync()))))
                .ToList();
            await Task.WhenAll(targets.Select(async t =>
            {
                try
                {
                    await t.Tick().WaitAsync(TickTimeout);
                }
                catch (Exception ex) when (ex is not OutOfMemoryException)
                {
                    SchedulingLog.LogWarningTickFailed(logger, t.Name, ex);
                }
            }));
        }
        finally
        {
            _ticking = false;
        }
    }
}
