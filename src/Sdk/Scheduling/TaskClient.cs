using Granary.Client.Configuration;
using Granary.Client.DependencyInjection;
using Granary.Errors;
using Granary.Scheduling;

namespace Granary.Client.Scheduling;

/// <summary>
/// Client helpers for the worker schedulers: submit tasks, chains, groups and chords, wait for
/// results, cancel, and inspect queues, workers and dead letters. Every call is bounded by
/// <see cref="GranaryClientOptions.CallTimeout"/> (a result wait: by its long poll plus that), ending in
/// <see cref="TimeoutException"/>, and by its cancellation token, ending in
/// <see cref="OperationCanceledException"/>; a submission that timed out may still have been accepted
/// (submit again with the same id or idempotency key: it finds the first task).
/// </summary>
/// <example><code>
/// var tasks = new TaskClient(grains);
/// var info = await tasks.SubmitAsync(new TaskSubmission("add", "[2, 3]"), ct);
/// var done = await tasks.WaitAsync(info.Id, TimeSpan.FromSeconds(10), ct);   // done.Result == "5"
/// </code></example>
/// <param name="grains">The cluster client (or a grain's factory).</param>
/// <param name="options">The call timeout and clock (<see cref="GranaryClientOptions"/>'s defaults when null).</param>
public sealed class TaskClient(IGrainFactory grains, GranaryClientOptions? options = null)
{
    private static readonly TimeSpan PollInterval = TimeSpan.FromMilliseconds(20);
    private static readonly TimeSpan LongPoll = TimeSpan.FromSeconds(20);
    private readonly CallBound _bound = (options ?? new GranaryClientOptions()).Bound();

    /// <summary>The task id a submission gets: derived from its idempotency key (so resubmitting finds the first task), else new.</summary>
    public static string IdFor(TaskSubmission submission)
    {
        ArgumentNullException.ThrowIfNull(submission);
        if (submission.IdempotencyKey is { } key)
        {
            Guard.Name(key, "idempotencyKey", Limits.Scheduling.MaxIdempotencyKeyLength);
            return "key:" + key;
        }

        return NewId("t");
    }

    /// <summary>Submits a task; with an idempotency key a repeated submission returns the first task.</summary>
    public Task<TaskInfo> SubmitAsync(TaskSubmission submission, CancellationToken cancellationToken = default) =>
        _bound.On(grains.GetGrain<ITaskGrain>(IdFor(submission)).SubmitAsync(Storable(submission)), cancellationToken);

    /// <summary>Submits under a caller-chosen id (retry a failed call with the same id: submission is idempotent by id).</summary>
    public Task<TaskInfo> SubmitWithIdAsync(string id, TaskSubmission submission, CancellationToken cancellationToken = default) =>
        _bound.On(grains.GetGrain<ITaskGrain>(Guard.Name(id, "id")).SubmitAsync(Storable(submission)), cancellationToken);

    /// <summary>Submits a chain: each step runs after the previous one succeeded, with its result prepended to the arguments.</summary>
    public Task<TaskInfo> ChainAsync(IReadOnlyList<TaskSubmission> steps, CancellationToken cancellationToken = default)
    {
        ArgumentNullException.ThrowIfNull(steps);
        if (steps.Count == 0)
        {
            throw new TaskRejectedException("chain", "needs at least one task");
        }

        return SubmitAsync(steps[0] with { Then = steps.Count > 1 ? [.. steps.Skip(1)] : null }, cancellationToken);
    }

    /// <summary>Starts a group (parallel tasks).</summary>
    public Task<WorkflowInfo> GroupAsync(IReadOnlyList<TaskSubmission> members, string? id = null, CancellationToken cancellationToken = default) =>
        _bound.On(grains.GetGrain<IWorkflowGrain>(id ?? NewId("group")).StartAsync(new WorkflowRequest(WorkflowKind.Group, members, null)), cancellationToken);

    /// <summary>Starts a chord: a group, then <paramref name="callback"/> once with all results as its first argument.</summary>
    public Task<WorkflowInfo> ChordAsync(IReadOnlyList<TaskSubmission> members, TaskSubmission callback, string? id = null, CancellationToken cancellationToken = default) =>
        _bound.On(grains.GetGrain<IWorkflowGrain>(id ?? NewId("chord")).StartAsync(new WorkflowRequest(WorkflowKind.Chord, members, callback)), cancellationToken);

    /// <summary>A task's record.</summary>
    public Task<TaskInfo> GetAsync(string id, CancellationToken cancellationToken = default) => _bound.On(grains.GetGrain<ITaskGrain>(Guard.Name(id, "id")).GetAsync(), cancellationToken);

    /// <summary>A workflow's progress.</summary>
    public Task<WorkflowInfo> GetWorkflowAsync(string id, CancellationToken cancellationToken = default) => _bound.On(grains.GetGrain<IWorkflowGrain>(Guard.Name(id, "id")).GetAsync(), cancellationToken);

    /// <summary>Cancels a task.</summary>
    public Task<TaskInfo> CancelAsync(string id, CancellationToken cancellationToken = default) => _bound.On(grains.GetGrain<ITaskGrain>(Guard.Name(id, "id")).CancelAsync(), cancellationToken);

    /// <summary>
    /// Waits (long polls) until the task is terminal or <paramref name="timeout"/> passes (then returns its
    /// last record). Cancelling <paramref name="cancellationToken"/> ends the poll at once, on the task grain too.
    /// </summary>
    public async Task<TaskInfo> WaitAsync(string id, TimeSpan timeout, CancellationToken cancellationToken = default)
    {
        var grain = grains.GetGrain<ITaskGrain>(Guard.Name(id, "id"));
        var until = _bound.Time.GetUtcNow() + timeout;
        while (true)
        {
            cancellationToken.ThrowIfCancellationRequested();
            var left = until - _bound.Time.GetUtcNow();
            var poll = left <= TimeSpan.Zero ? TimeSpan.Zero : left < LongPoll ? left : LongPoll;
            var info = await _bound.OnWait(grain.WaitAsync(poll, cancellationToken), poll, cancellationToken);
            if (info.IsTerminal || _bound.Time.GetUtcNow() >= until)
            {
                return info;
            }
        }
    }

    /// <summary>Waits for a chain's last task: follows each step to the next until one is terminal without a next.</summary>
    public async Task<TaskInfo> WaitForChainAsync(string firstId, TimeSpan timeout, CancellationToken cancellationToken = default)
    {
        var until = _bound.Time.GetUtcNow() + timeout;
        var info = await WaitAsync(firstId, timeout, cancellationToken);
        while (info.State == TaskState.Succeeded && info.NextTaskId is { } next && _bound.Time.GetUtcNow() < until)
        {
            info = await WaitForSubmissionAsync(next, until, cancellationToken);
            info = await WaitAsync(info.Id, until - _bound.Time.GetUtcNow(), cancellationToken);
        }

        return info;
    }

    /// <summary>Workers of a queue with their load (none: its tasks wait until one registers).</summary>
    public Task<IReadOnlyList<WorkerInfo>> WorkersAsync(string queue = SchedulingDefaults.Queue, CancellationToken cancellationToken = default) =>
        _bound.On(grains.GetGrain<IQueueGrain>(TaskQueueName.Check(queue)).GetWorkersAsync(), cancellationToken);

    /// <summary>Scheduler partitions of a queue.</summary>
    public Task<IReadOnlyList<SchedulerSnapshot>> QueueAsync(string queue = SchedulingDefaults.Queue, CancellationToken cancellationToken = default) =>
        _bound.On(grains.GetGrain<IQueueGrain>(TaskQueueName.Check(queue)).GetSnapshotsAsync(), cancellationToken);

    /// <summary>Declares a queue (if it was not) with this balancer and partition count.</summary>
    public Task<QueueSettings> ConfigureQueueAsync(string queue, QueueSettings settings, CancellationToken cancellationToken = default) =>
        _bound.On(grains.GetGrain<IQueueGrain>(TaskQueueName.Check(queue)).ConfigureAsync(settings), cancellationToken);

    /// <summary>
    /// Declares a task queue, so tasks can be sent to it (idempotent; null settings keep their current
    /// value, the configured defaults at first). Tasks wait in it until a worker serves it.
    /// </summary>
    /// <example><code>await tasks.DeclareQueueAsync("emails", partitions: 8, cancellationToken: ct);</code></example>
    public Task<QueueView> DeclareQueueAsync(string queue, string? balancer = null, int? partitions = null, CancellationToken cancellationToken = default) =>
        _bound.On(grains.GetGrain<IQueueGrain>(TaskQueueName.Check(queue)).DeclareAsync(new QueueDeclaration { Balancer = balancer, Partitions = partitions }), cancellationToken);

    /// <summary>A declared queue: settings, live workers (none means its tasks wait), partitions holding work; <see cref="TaskQueueNotFoundException"/> otherwise.</summary>
    public async Task<QueueView> GetQueueAsync(string queue, CancellationToken cancellationToken = default)
    {
        var view = await _bound.On(grains.GetGrain<IQueueGrain>(TaskQueueName.Check(queue)).GetViewAsync(), cancellationToken);
        return view.Declared ? view : throw new TaskQueueNotFoundException(queue);
    }

    /// <summary>Every queue in the registry (declared, or still holding tasks after a removal), by name.</summary>
    public async Task<IReadOnlyList<QueueView>> ListQueuesAsync(CancellationToken cancellationToken = default)
    {
        var names = await _bound.On(grains.GetGrain<ISchedulingDirectoryGrain>(0).GetQueuesAsync(), cancellationToken);
        var views = await _bound.On(Task.WhenAll(names.Select(n => grains.GetGrain<IQueueGrain>(n).GetViewAsync())), cancellationToken);
        return [.. views.Where(v => v.Declared || v.ActivePartitions.Count > 0)];
    }

    /// <summary>Removes a queue declared at run time; <see cref="TaskQueueInUseException"/> while a worker serves it, tasks wait or run in it, or a periodic task submits to it.</summary>
    public Task RemoveQueueAsync(string queue, CancellationToken cancellationToken = default) => _bound.On(grains.GetGrain<IQueueGrain>(TaskQueueName.Check(queue)).RemoveAsync(), cancellationToken);

    /// <summary>Dead letters of a queue.</summary>
    public Task<IReadOnlyList<DeadLetter>> DeadLettersAsync(string queue = SchedulingDefaults.Queue, int limit = 100, CancellationToken cancellationToken = default) =>
        _bound.On(grains.GetGrain<IDeadLetterGrain>(queue).ListAsync(limit), cancellationToken);

    /// <summary>Re-queues a dead-lettered task.</summary>
    public Task<TaskInfo> RetryDeadLetterAsync(string id, string queue = SchedulingDefaults.Queue, CancellationToken cancellationToken = default) =>
        _bound.On(grains.GetGrain<IDeadLetterGrain>(queue).RetryAsync(id), cancellationToken);

    /// <summary>Creates or replaces a periodic task.</summary>
    public Task<PeriodicTaskInfo> ScheduleAsync(string name, string cron, TaskSubmission template, CancellationToken cancellationToken = default) =>
        _bound.On(Periodic(name).ScheduleAsync(cron, template), cancellationToken);

    /// <summary>A periodic task's schedule and firing counters.</summary>
    public Task<PeriodicTaskInfo> GetPeriodicAsync(string name, CancellationToken cancellationToken = default) => _bound.On(Periodic(name).GetAsync(), cancellationToken);

    /// <summary>Stops a periodic task (<see cref="TaskNotFoundException"/> when it was never scheduled).</summary>
    public Task RemovePeriodicAsync(string name, CancellationToken cancellationToken = default) => _bound.On(Periodic(name).RemoveAsync(), cancellationToken);

    /// <summary>Every scheduled periodic task, by name.</summary>
    public async Task<IReadOnlyList<PeriodicTaskInfo>> ListPeriodicAsync(CancellationToken cancellationToken = default)
    {
        var names = await _bound.On(grains.GetGrain<ISchedulingDirectoryGrain>(0).GetPeriodicsAsync(), cancellationToken);
        var infos = await Task.WhenAll(names.Select(async name =>
        {
            try
            {
                return await GetPeriodicAsync(name, cancellationToken);
            }
            catch (TaskNotFoundException)
            {
                return null; // listed while it was being added or removed
            }
        }));
        return [.. infos.OfType<PeriodicTaskInfo>()];
    }

    /// <summary>
    /// Refuses arguments that are not storable text before sending: an unpaired surrogate would not
    /// reach the task grain intact (Orleans sends strings as UTF-8, which replaces it).
    /// </summary>
    private static TaskSubmission Storable(TaskSubmission submission)
    {
        ArgumentNullException.ThrowIfNull(submission);
        Guard.Storable(submission.Args, "args");
        return submission;
    }

    private static string NewId(string prefix) => prefix + "-" + Guid.NewGuid().ToString("N");

    private IPeriodicTaskGrain Periodic(string name) => grains.GetGrain<IPeriodicTaskGrain>(Guard.Name(name, "name", Limits.Scheduling.MaxPeriodicNameLength));

    private async Task<TaskInfo> WaitForSubmissionAsync(string id, DateTimeOffset until, CancellationToken cancellationToken)
    {
        while (true)
        {
            try
            {
                return await GetAsync(id, cancellationToken);
            }
            catch (TaskNotFoundException) when (_bound.Time.GetUtcNow() < until)
            {
                await Task.Delay(PollInterval, _bound.Time, cancellationToken);
            }
        }
    }
}

/// <summary>Names shared by clients.</summary>
public static class SchedulingDefaults
{
    /// <summary>The default queue.</summary>
    public const string Queue = "default";
}
