using Granary.Durability;
using Orleans.Concurrency;

namespace Granary.Scheduling;

/// <summary>Implements <see cref="IDeadLetterGrain"/>: one queue's dead-letter list, bounded to the newest <see cref="Limits.Scheduling.MaxDeadLetters"/>.</summary>
[Reentrant]
[GrainType("granary.scheduling.dead-letter")]
[KeyIsName("queue", MaxLength = Limits.Scheduling.MaxQueueNameLength)]
public sealed class DeadLetterGrain(
    [PersistentState("task-dead-letters", GranaryStorage.Default)] IPersistentState<DeadLetterState> state) : Grain, IDeadLetterGrain
{
    private GroupCommit? _commit;

    private GroupCommit Commit => _commit ??= new GroupCommit(() => state.WriteStateAsync());

    /// <inheritdoc/>
    public async Task AddAsync(DeadLetter letter)
    {
        ArgumentNullException.ThrowIfNull(letter);
        if (state.State.Letters.Exists(l => string.Equals(l.TaskId, letter.TaskId, StringComparison.Ordinal)))
        {
            // A repeat: its first write may be in flight or may have failed.
            await Commit.DurableAsync();
            return;
        }

        state.State.Letters.Add(letter);
        if (state.State.Letters.Count > Limits.Scheduling.MaxDeadLetters)
        {
            state.State.Letters.RemoveRange(0, state.State.Letters.Count - Limits.Scheduling.MaxDeadLetters);
        }

        await Commit.CommitAsync();
    }

    /// <inheritdoc/>
    public Task<IReadOnlyList<DeadLetter>> ListAsync(int limit) =>
        Task.FromResult<IReadOnlyList<DeadLetter>>([.. state.State.Letters.Take(Math.Clamp(limit, 1, Limits.Scheduling.MaxDeadLetters))]);

    /// <inheritdoc/>
    public async Task<TaskInfo> RetryAsync(string taskId)
    {
        var info = await GrainFactory.GetGrain<ITaskGrain>(taskId).RetryFromDeadLetterAsync();
        if (state.State.Letters.RemoveAll(l => string.Equals(l.TaskId, taskId, StringComparison.Ordinal)) > 0)
        {
            await Commit.CommitAsync();
        }

        return info;
    }
}
