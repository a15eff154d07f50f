using Granary.Security;

namespace Granary.Scheduling;

/// <summary>
/// One task's durable record and the owner of its lease. Ids are chosen by the caller
/// (<see cref="Granary.Scheduling"/> SDK: a GUID, or derived from the idempotency key).
/// </summary>
/// <example><code>
/// var info = await grains.GetGrain&lt;ITaskGrain&gt;(id).SubmitAsync(new TaskSubmission("add", "[2, 3]"));
/// </code></example>
[Requires(Permission.Internal)]
[Alias("granary.scheduling.task")]
public interface ITaskGrain : IGrainWithStringKey
{
    /// <summary>Validates and queues the task; a second call returns the first submission's record unchanged.</summary>
    [Requires(Permission.TaskSubmit)]
    [Alias("submit")]
    Task<TaskInfo> SubmitAsync(TaskSubmission submission);

    /// <summary>The record; <see cref="TaskNotFoundException"/> when unknown or past retention.</summary>
    [Requires(Permission.TaskSubmit)]
    [Alias("get")]
    Task<TaskInfo> GetAsync();

    /// <summary>
    /// Returns once the task is terminal, or after <paramref name="timeout"/> with its current record
    /// (long poll). A caller that cancels <paramref name="cancellationToken"/> ends the poll on the grain too.
    /// </summary>
    [Requires(Permission.TaskSubmit)]
    [Alias("wait")]
    [Orleans.Concurrency.AlwaysInterleave]
    Task<TaskInfo> WaitAsync(TimeSpan timeout, CancellationToken cancellationToken = default);

    /// <summary>Cancels the task unless it is finished; a running handler is told to stop.</summary>
    [Requires(Permission.TaskAdmin)]
    [Alias("cancel")]
    Task<TaskInfo> CancelAsync();

    /// <summary>Puts a dead-lettered task back in its queue with fresh retries.</summary>
    [Alias("retry-dead-letter")]
    Task<TaskInfo> RetryFromDeadLetterAsync();

    /// <summary>Worker side: claims the task under a new lease; null when it must not run now.</summary>
    [Alias("start")]
    Task<TaskExecution?> StartAsync(string workerId);

    /// <summary>Worker side: extends the lease; false when the lease is no longer valid (stop the handler).</summary>
    [Alias("heartbeat")]
    Task<bool> HeartbeatAsync(string leaseId);

    /// <summary>Worker side: late acknowledgement of a finished run.</summary>
    [Alias("complete")]
    Task CompleteAsync(string leaseId, RunOutcome outcome, string? payload);

    /// <summary>Scheduler side: current state (null when unknown); re-runs pending follow-ups after a reactivation.</summary>
    [Alias("check")]
    Task<TaskState?> CheckAsync();
}

/// <summary>One partition of a queue: orders waiting tasks and dispatches them to workers through the queue's balancer.</summary>
[Requires(Permission.Internal)]
[Alias("granary.scheduling.scheduler")]
public interface ISchedulerGrain : IGrainWithStringKey
{
    /// <summary>Adds (or re-adds) a waiting task; idempotent.</summary>
    [Alias("enqueue")]
    Task EnqueueAsync(QueuedTask task);

    /// <summary>Drops a task that reached a terminal state.</summary>
    [Alias("forget")]
    Task ForgetAsync(string taskId);

    /// <summary>A worker finished (or refused) a dispatch: frees its slot.</summary>
    [Alias("worker-done")]
    Task WorkerDoneAsync(string taskId, long dispatchId, string workerId, TimeSpan elapsed, bool success);

    /// <summary>Keeps a partition that holds work active and dispatching (called periodically through the keeper).</summary>
    [Alias("tick")]
    Task TickAsync();

    /// <summary>The partition's queue and dispatch counts.</summary>
    [Alias("snapshot")]
    Task<SchedulerSnapshot> GetSnapshotAsync();
}

/// <summary>A queue: its settings (balancer, partitions) and its live workers.</summary>
[Requires(Permission.Internal)]
[Alias("granary.scheduling.queue")]
public interface IQueueGrain : IGrainWithStringKey
{
    /// <summary>
    /// Settings for placing a task (defaults from configuration until configured); from the first
    /// call on, the partition count can only grow. <see cref="TaskQueueNotFoundException"/> when the
    /// queue is not declared.
    /// </summary>
    [Alias("settings")]
    Task<QueueSettings> GetSettingsAsync();

    /// <summary>Declares the queue (if it was not) with this balancer and partition count (partitions in use never shrink).</summary>
    [Requires(Permission.TaskAdmin)]
    [Alias("configure")]
    Task<QueueSettings> ConfigureAsync(QueueSettings settings);

    /// <summary>
    /// Declares the queue (idempotent): tasks may be submitted to it from then on. Settings left
    /// null keep their current value (the configuration's default at first).
    /// </summary>
    [Requires(Permission.TaskAdmin)]
    [Alias("declare")]
    Task<QueueView> DeclareAsync(QueueDeclaration declaration);

    /// <summary>
    /// Removes a queue declared at run time; refused (<see cref="TaskQueueInUseException"/>) while a
    /// worker serves it, a task waits or runs in it, a periodic task submits to it, or this silo's
    /// configuration lists it.
    /// </summary>
    [Requires(Permission.TaskAdmin)]
    [Alias("remove")]
    Task RemoveAsync();

    /// <summary>The queue as it is: declared or not (never throws for an unknown name), settings, live workers, partitions holding work.</summary>
    [Requires(Permission.TaskSubmit)]
    [Alias("view")]
    Task<QueueView> GetViewAsync();

    /// <summary>Scheduler side: partition <paramref name="partition"/> holds work (true), or went idle and is retiring (false).</summary>
    [Alias("partition-active")]
    Task SetPartitionActiveAsync(int partition, bool active);

    /// <summary>Worker heartbeat with its load; <see cref="TaskQueueNotFoundException"/> when the queue is not declared.</summary>
    [Alias("register-worker")]
    Task RegisterWorkerAsync(WorkerInfo worker);

    /// <summary>Removes a worker at once (it refused work or stopped).</summary>
    [Alias("unregister-worker")]
    Task UnregisterWorkerAsync(string workerId);

    /// <summary>
    /// Task types declared by the queue's workers in applications' processes (kept after they stop):
    /// a task of a type no silo knows is accepted in this queue only if it is one of these.
    /// </summary>
    [Requires(Permission.TaskSubmit)]
    [Alias("task-types")]
    Task<IReadOnlyList<string>> GetTaskTypesAsync();

    /// <summary>Workers heard from recently; <see cref="TaskQueueNotFoundException"/> when the queue is not declared.</summary>
    [Requires(Permission.TaskSubmit)]
    [Alias("workers")]
    Task<IReadOnlyList<WorkerInfo>> GetWorkersAsync();

    /// <summary>Ticks the partitions that hold work (re-activating them after their silo died); idle partitions are not woken.</summary>
    [Alias("tick")]
    Task TickAsync();

    /// <summary>Snapshots of every partition (idle ones are reported empty without being woken); <see cref="TaskQueueNotFoundException"/> when the queue is not declared.</summary>
    [Requires(Permission.TaskSubmit)]
    [Alias("snapshots")]
    Task<IReadOnlyList<SchedulerSnapshot>> GetSnapshotsAsync();
}

/// <summary>A worker (key <c>queue/name</c>): runs up to its capacity of tasks at once, heartbeating their leases.</summary>
[Requires(Permission.TaskWork)]
[Alias("granary.scheduling.worker")]
public interface IWorkerGrain : IGrainWithStringKey
{
    /// <summary>Starts (or refreshes) the worker and registers it with its queue.</summary>
    [Alias("start")]
    Task<WorkerInfo> StartAsync(WorkerSettings settings);

    /// <summary>Stops taking work.</summary>
    [Alias("stop")]
    Task StopAsync();

    /// <summary>Accepts a dispatch (false when full); runs it in the background.</summary>
    [Requires(Permission.Internal)]
    [Alias("execute")]
    Task<bool> ExecuteAsync(TaskDispatch dispatch);

    /// <summary>Load and counters.</summary>
    [Alias("info")]
    Task<WorkerInfo> GetInfoAsync();

    /// <summary>
    /// A worker in an application's process (<see cref="WorkerSettings.Observer"/>): claims the task it
    /// accepted through <see cref="IWorkerObserver.OfferAsync"/> under a new lease; null when it must
    /// not run now (then report <see cref="FinishAsync"/> with no lease).
    /// </summary>
    [Alias("claim")]
    Task<TaskExecution?> ClaimAsync(TaskDispatch dispatch);

    /// <summary>A worker in an application's process: extends the lease of a task it runs; false when the lease is no longer valid (stop the handler).</summary>
    [Alias("renew")]
    Task<bool> RenewAsync(string taskId, string leaseId);

    /// <summary>
    /// A worker in an application's process: acknowledges a finished run (late acknowledgement) and
    /// frees its slot in the scheduler. <paramref name="execution"/> (what <see cref="ClaimAsync"/> returned)
    /// null: the dispatch was not run.
    /// </summary>
    [Alias("finish")]
    Task FinishAsync(TaskDispatch dispatch, TaskExecution? execution, RunOutcome outcome, string? payload, TimeSpan elapsed);
}

/// <summary>
/// The side of a worker that lives in an application's process (an Orleans client): its worker grain
/// offers it each dispatch; it accepts while it has a free slot and then claims, heartbeats and
/// finishes the task through <see cref="IWorkerGrain"/>.
/// </summary>
[Requires(Permission.Internal)]
[Alias("granary.scheduling.worker-observer")]
public interface IWorkerObserver : IGrainObserver
{
    /// <summary>A dispatch: true when taken (the worker claims it next), false when full or stopping.</summary>
    [Alias("offer")]
    Task<bool> OfferAsync(TaskDispatch dispatch);
}

/// <summary>A group or chord. The chord callback is submitted once, under a deterministic id, after durable bookkeeping.</summary>
[Requires(Permission.TaskSubmit)]
[Alias("granary.scheduling.workflow")]
public interface IWorkflowGrain : IGrainWithStringKey
{
    /// <summary>Starts the workflow (idempotent).</summary>
    [Alias("start")]
    Task<WorkflowInfo> StartAsync(WorkflowRequest request);

    /// <summary>A member reached a terminal state (duplicates ignored).</summary>
    [Requires(Permission.Internal)]
    [Alias("member-done")]
    Task MemberDoneAsync(int index, TaskState state, string? result);

    /// <summary>Progress.</summary>
    [Alias("get")]
    Task<WorkflowInfo> GetAsync();
}

/// <summary>Dead-letter list of one queue.</summary>
[Requires(Permission.Internal)]
[Alias("granary.scheduling.dead-letters")]
public interface IDeadLetterGrain : IGrainWithStringKey
{
    /// <summary>Records a dead-lettered task (idempotent).</summary>
    [Alias("add")]
    Task AddAsync(DeadLetter letter);

    /// <summary>The list, oldest first.</summary>
    [Requires(Permission.TaskSubmit)]
    [Alias("list")]
    Task<IReadOnlyList<DeadLetter>> ListAsync(int limit);

    /// <summary>Re-queues one task; returns its record.</summary>
    [Requires(Permission.TaskAdmin)]
    [Alias("retry")]
    Task<TaskInfo> RetryAsync(string taskId);
}

/// <summary>Cluster-wide token bucket for one task type.</summary>
[Requires(Permission.Internal)]
[Alias("granary.scheduling.rate-limit")]
public interface IRateLimitGrain : IGrainWithStringKey
{
    /// <summary>Zero when a token was taken; otherwise how long until one is available.</summary>
    [Alias("acquire")]
    Task<TimeSpan> TryAcquireAsync();
}

/// <summary>A periodic task driven by a cron expression; fires at most once per tick, even across silo loss.</summary>
[Requires(Permission.Internal)]
[Alias("granary.scheduling.periodic")]
public interface IPeriodicTaskGrain : IGrainWithStringKey
{
    /// <summary>
    /// Creates or replaces the schedule. The template is checked by the rules of a submission (and
    /// its queue must be declared), and the expression must fire within
    /// <see cref="Limits.Scheduling.MaxCronHorizon"/>; otherwise <see cref="TaskRejectedException"/>
    /// or <see cref="TaskQueueNotFoundException"/>, and nothing is stored.
    /// </summary>
    [Requires(Permission.TaskAdmin)]
    [Alias("schedule")]
    Task<PeriodicTaskInfo> ScheduleAsync(string cron, TaskSubmission template);

    /// <summary>Stops it: its timer stops and the activation is let go.</summary>
    [Requires(Permission.TaskAdmin)]
    [Alias("remove")]
    Task RemoveAsync();

    /// <summary>Its state.</summary>
    [Requires(Permission.TaskSubmit)]
    [Alias("get")]
    Task<PeriodicTaskInfo> GetAsync();

    /// <summary>Fires the due tick, if any.</summary>
    [Alias("tick")]
    Task TickAsync();
}

/// <summary>
/// The registry of declared task queues and of periodic tasks (durable), so every silo can list
/// them and keep them active.
/// </summary>
[Requires(Permission.Internal)]
[Alias("granary.scheduling.directory")]
public interface ISchedulingDirectoryGrain : IGrainWithIntegerKey
{
    /// <summary>Adds a queue name (a queue named in configuration, or one whose partitions hold work); no limit.</summary>
    [Alias("add-queue")]
    Task AddQueueAsync(string queue);

    /// <summary>Adds a queue declared at run time; refused (<c>RESOURCE_EXHAUSTED</c>) beyond <see cref="Limits.Scheduling.MaxDeclaredQueues"/>.</summary>
    [Alias("declare-queue")]
    Task DeclareQueueAsync(string queue);

    /// <summary>Drops a queue name.</summary>
    [Alias("remove-queue")]
    Task RemoveQueueAsync(string queue);

    /// <summary>Adds or removes a periodic task name; adding is refused (<c>RESOURCE_EXHAUSTED</c>) beyond <see cref="Limits.Scheduling.MaxPeriodicTasks"/>.</summary>
    [Alias("set-periodic")]
    Task SetPeriodicAsync(string name, bool present);

    /// <summary>Queue names.</summary>
    [Requires(Permission.TaskSubmit)]
    [Alias("queues")]
    Task<IReadOnlyList<string>> GetQueuesAsync();

    /// <summary>Periodic task names.</summary>
    [Requires(Permission.TaskSubmit)]
    [Alias("periodics")]
    Task<IReadOnlyList<string>> GetPeriodicsAsync();

    /// <summary>Ticks every queue and periodic task.</summary>
    [Alias("tick")]
    Task TickAsync();
}
