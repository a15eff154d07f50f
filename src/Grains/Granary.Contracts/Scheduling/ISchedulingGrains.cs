namespace Granary.Scheduling;

/// <summary>
/// One task's durable record and the owner of its lease. Ids are chosen by the caller
/// (<see cref="Granary.Scheduling"/> SDK: a GUID, or derived from the idempotency key).
/// </summary>
/// <example><code>
/// var info = await grains.GetGrain&lt;ITaskGrain&gt;(id).SubmitAsync(new TaskSubmission("add", "[2, 3]"));
/// </code></example>
[Alias("granary.scheduling.task")]
public interface ITaskGrain : IGrainWithStringKey
{
    /// <summary>Validates and queues the task; a second call returns the first submission's record unchanged.</summary>
    [Alias("submit")]
    Task<TaskInfo> SubmitAsync(TaskSubmission submission);

    /// <summary>The record; <see cref="TaskNotFoundException"/> when unknown or past retention.</summary>
    [Alias("get")]
    Task<TaskInfo> GetAsync();

    /// <summary>Returns once the task is terminal, or after <paramref name="timeout"/> with its current record (long poll).</summary>
    [Alias("wait")]
    [Orleans.Concurrency.AlwaysInterleave]
    Task<TaskInfo> WaitAsync(TimeSpan timeout);

    /// <summary>Cancels the task unless it is finished; a running handler is told to stop.</summary>
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

    /// <summary>Keeps the partition active and dispatching (called periodically by every silo).</summary>
    [Alias("tick")]
    Task TickAsync();

    /// <summary>The partition's queue and dispatch counts.</summary>
    [Alias("snapshot")]
    Task<SchedulerSnapshot> GetSnapshotAsync();
}

/// <summary>A queue: its settings (balancer, partitions) and its live workers.</summary>
[Alias("granary.scheduling.queue")]
public interface IQueueGrain : IGrainWithStringKey
{
    /// <summary>Settings (defaults from configuration until configured).</summary>
    [Alias("settings")]
    Task<QueueSettings> GetSettingsAsync();

    /// <summary>Changes the balancer or grows the partition count (partitions never shrink).</summary>
    [Alias("configure")]
    Task<QueueSettings> ConfigureAsync(QueueSettings settings);

    /// <summary>Worker heartbeat with its load.</summary>
    [Alias("register-worker")]
    Task RegisterWorkerAsync(WorkerInfo worker);

    /// <summary>Removes a worker at once (it refused work or stopped).</summary>
    [Alias("unregister-worker")]
    Task UnregisterWorkerAsync(string workerId);

    /// <summary>Workers heard from recently.</summary>
    [Alias("workers")]
    Task<IReadOnlyList<WorkerInfo>> GetWorkersAsync();

    /// <summary>Ticks every partition ever used.</summary>
    [Alias("tick")]
    Task TickAsync();

    /// <summary>Snapshots of every partition.</summary>
    [Alias("snapshots")]
    Task<IReadOnlyList<SchedulerSnapshot>> GetSnapshotsAsync();
}

/// <summary>A worker (key <c>queue/name</c>): runs up to its capacity of tasks at once, heartbeating their leases.</summary>
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
    [Alias("execute")]
    Task<bool> ExecuteAsync(TaskDispatch dispatch);

    /// <summary>Load and counters.</summary>
    [Alias("info")]
    Task<WorkerInfo> GetInfoAsync();
}

/// <summary>A group or chord. The chord callback is submitted once, under a deterministic id, after durable bookkeeping.</summary>
[Alias("granary.scheduling.workflow")]
public interface IWorkflowGrain : IGrainWithStringKey
{
    /// <summary>Starts the workflow (idempotent).</summary>
    [Alias("start")]
    Task<WorkflowInfo> StartAsync(WorkflowRequest request);

    /// <summary>A member reached a terminal state (duplicates ignored).</summary>
    [Alias("member-done")]
    Task MemberDoneAsync(int index, TaskState state, string? result);

    /// <summary>Progress.</summary>
    [Alias("get")]
    Task<WorkflowInfo> GetAsync();
}

/// <summary>Dead-letter list of one queue.</summary>
[Alias("granary.scheduling.dead-letters")]
public interface IDeadLetterGrain : IGrainWithStringKey
{
    /// <summary>Records a dead-lettered task (idempotent).</summary>
    [Alias("add")]
    Task AddAsync(DeadLetter letter);

    /// <summary>The list, oldest first.</summary>
    [Alias("list")]
    Task<IReadOnlyList<DeadLetter>> ListAsync(int limit);

    /// <summary>Re-queues one task; returns its record.</summary>
    [Alias("retry")]
    Task<TaskInfo> RetryAsync(string taskId);
}

/// <summary>Cluster-wide token bucket for one task type.</summary>
[Alias("granary.scheduling.rate-limit")]
public interface IRateLimitGrain : IGrainWithStringKey
{
    /// <summary>Zero when a token was taken; otherwise how long until one is available.</summary>
    [Alias("acquire")]
    Task<TimeSpan> TryAcquireAsync();
}

/// <summary>A periodic task driven by a cron expression; fires at most once per tick, even across silo loss.</summary>
[Alias("granary.scheduling.periodic")]
public interface IPeriodicTaskGrain : IGrainWithStringKey
{
    /// <summary>Creates or replaces the schedule.</summary>
    [Alias("schedule")]
    Task<PeriodicTaskInfo> ScheduleAsync(string cron, TaskSubmission template);

    /// <summary>Stops it.</summary>
    [Alias("remove")]
    Task RemoveAsync();

    /// <summary>Its state.</summary>
    [Alias("get")]
    Task<PeriodicTaskInfo> GetAsync();

    /// <summary>Fires the due tick, if any.</summary>
    [Alias("tick")]
    Task TickAsync();
}

/// <summary>Known queues and periodic tasks, so every silo can keep them active.</summary>
[Alias("granary.scheduling.directory")]
public interface ISchedulingDirectoryGrain : IGrainWithIntegerKey
{
    /// <summary>Adds a queue name.</summary>
    [Alias("add-queue")]
    Task AddQueueAsync(string queue);

    /// <summary>Adds or removes a periodic task name.</summary>
    [Alias("set-periodic")]
    Task SetPeriodicAsync(string name, bool present);

    /// <summary>Queue names.</summary>
    [Alias("queues")]
    Task<IReadOnlyList<string>> GetQueuesAsync();

    /// <summary>Periodic task names.</summary>
    [Alias("periodics")]
    Task<IReadOnlyList<string>> GetPeriodicsAsync();

    /// <summary>Ticks every queue and periodic task.</summary>
    [Alias("tick")]
    Task TickAsync();
}
