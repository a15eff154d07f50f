using System.Globalization;
using Granary.Durability;
using Granary.Scheduling.Handlers;
using Orleans.Concurrency;

namespace Granary.Scheduling;

/// <summary>
/// Implements <see cref="IWorkflowGrain"/>. The chord callback runs exactly once: the decision is
/// stored before the callback is submitted, under a deterministic task id, and task submission is
/// idempotent by id, so a repeated member notification or a crash between the write and the
/// submit can only submit the same task again (which returns the existing one).
/// </summary>
[Reentrant]
[GrainType("granary.scheduling.workflow")]
[KeyIsName("id", MaxLength = Limits.Scheduling.MaxWorkflowIdLength)]
public sealed class WorkflowGrain(
    [PersistentState("task-workflow", GranaryStorage.Default)] IPersistentState<WorkflowState> state,
    TaskSubmissionValidator validator,
    TimeProvider time) : Grain, IWorkflowGrain
{
    private GroupCommit? _commit;

    private GroupCommit Commit => _commit ??= new GroupCommit(() => state.WriteStateAsync());

    private string Id => this.GetPrimaryKeyString();

    /// <summary>Task id of member <paramref name="index"/> of workflow <paramref name="workflowId"/>.</summary>
    public static string MemberId(string workflowId, int index) => string.Create(CultureInfo.InvariantCulture, $"{workflowId}.{index}");

    /// <summary>Task id of the chord callback.</summary>
    public static string CallbackId(string workflowId) => workflowId + ".callback";

    /// <inheritdoc/>
    public async Task<WorkflowInfo> StartAsync(WorkflowRequest request)
    {
        if (request is null || request.Members is null || request.Members.Count == 0 || request.Members.Count > Limits.Scheduling.MaxWorkflowMembers)
        {
            throw new TaskRejectedException("members", $"a workflow needs 1 to {Limits.Scheduling.MaxWorkflowMembers} tasks");
        }

        if (request.Kind == WorkflowKind.Chord && request.Callback is null)
        {
            throw new TaskRejectedException("callback", "a chord needs a callback task");
        }

        if (!state.State.Started)
        {
            // Every task checked before the workflow is stored: a bad member must not leave a workflow half submitted.
            var now = time.GetUtcNow();
            List<TaskSubmission> tasks = [.. request.Members];
            foreach (var task in tasks)
            {
                validator.Validate(task, now);
            }

            if (request.Callback is { } callback)
            {
                // Its first argument, the members' results, is added when it is submitted.
                validator.ValidatePartial(callback, now);
                tasks.Add(callback);
            }

            await TaskSubmissionValidator.RequireDeclaredAsync(GrainFactory, tasks.SelectMany(TaskSubmissionValidator.QueuesOf));
            await validator.RequireServedAsync(GrainFactory, tasks);
            state.State = new WorkflowState
            {
                Started = true,
                Kind = request.Kind,
                Members = [.. request.Members],
                Callback = request.Callback,
            };
            await Commit.CommitAsync();
        }
        else
        {
            // A retried start: the first start's write may still be in flight, or may have failed
            // with memory already changed. Answer only once the workflow is stored.
            await Commit.DurableAsync();
        }

        // Idempotent by member id: a retried start submits nothing twice.
        await Task.WhenAll(state.State.Members.Select((m, i) =>
            GrainFactory.GetGrain<ITaskGrain>(MemberId(Id, i)).SubmitAsync(m with { WorkflowId = Id, WorkflowIndex = i })));
        await EnsureCallbackAsync();
        return Info();
    }

    /// <inheritdoc/>
    public async Task MemberDoneAsync(int index, TaskState taskState, string? result)
    {
        if (!state.State.Started || index < 0 || index >= state.State.Members.Count || state.State.Done.ContainsKey(index))
        {
            await EnsureCallbackAsync();
            return;
        }

        state.State.Done[index] = taskState;
        if (taskState == TaskState.Succeeded)
        {
            state.State.Results[index] = result;
        }

        if (state.State.Kind == WorkflowKind.Chord && AllSucceeded())
        {
            state.State.CallbackSubmitted = true;
        }

        await Commit.CommitAsync();
        await EnsureCallbackAsync();
    }

    /// <inheritdoc/>
    public async Task<WorkflowInfo> GetAsync()
    {
        if (!state.State.Started)
        {
            throw new TaskNotFoundException(Id);
        }

        await ReconcileAsync();
        await EnsureCallbackAsync();
        return Info();
    }

    /// <summary>Asks members not yet reported done for their state (a notification may have died with a silo).</summary>
    private async Task ReconcileAsync()
    {
        var pending = Enumerable.Range(0, state.State.Members.Count).Where(i => !state.State.Done.ContainsKey(i)).Take(Limits.MaxBatchSize).ToList();
        if (pending.Count == 0)
        {
            return;
        }

        var infos = await Task.WhenAll(pending.Select(async i =>
        {
            try
            {
                return await GrainFactory.GetGrain<ITaskGrain>(MemberId(Id, i)).GetAsync();
            }
            catch (TaskNotFoundException)
            {
                return null;
            }
        }));
        var changed = false;
        foreach (var info in infos.Where(i => i is { IsTerminal: true }))
        {
            var index = info!.Id.LastIndexOf('.');
            var i = int.Parse(info.Id.AsSpan(index + 1), CultureInfo.InvariantCulture);
            if (state.State.Done.TryAdd(i, info.State))
            {
                if (info.State == TaskState.Succeeded)
                {
                    state.State.Results[i] = info.Result;
                }

                changed = true;
            }
        }

        if (changed)
        {
            if (state.State.Kind == WorkflowKind.Chord && AllSucceeded())
            {
                state.State.CallbackSubmitted = true;
            }

            await Commit.CommitAsync();
        }
    }

    private bool AllSucceeded() =>
        state.State.Done.Count == state.State.Members.Count && state.State.Done.Values.All(s => s == TaskState.Succeeded);

    private async Task EnsureCallbackAsync()
    {
        if (state.State.CallbackSubmitted && state.State.Callback is { } callback)
        {
            var results = "[" + string.Join(",", Enumerable.Range(0, state.State.Members.Count).Select(i => state.State.Results.GetValueOrDefault(i) ?? "null")) + "]";
            var submission = callback with { Args = TaskHandlerRegistry.Prepend(results, callback.Args), WorkflowId = null };
            await GrainFactory.GetGrain<ITaskGrain>(CallbackId(Id)).SubmitAsync(submission);
        }
    }

    private WorkflowInfo Info()
    {
        var s = state.State;
        var results = s.Done.Count == s.Members.Count
            ? "[" + string.Join(",", Enumerable.Range(0, s.Members.Count).Select(i => s.Results.GetValueOrDefault(i) ?? "null")) + "]"
            : null;
        return new WorkflowInfo(
            Id,
            s.Kind,
            [.. Enumerable.Range(0, s.Members.Count).Select(i => MemberId(Id, i))],
            s.Done.Values.Count(v => v == TaskState.Succeeded),
            s.Done.Values.Count(v => v != TaskState.Succeeded),
            s.Kind == WorkflowKind.Chord ? CallbackId(Id) : null,
            s.CallbackSubmitted,
            results);
    }
}
