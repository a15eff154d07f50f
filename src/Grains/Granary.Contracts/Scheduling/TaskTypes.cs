namespace Granary.Scheduling;

/// <summary>
/// A task to run. Only <see cref="Type"/> is required; everything else has a default from
/// <c>Granary:Scheduling</c>. Arguments are a JSON array of positional arguments.
/// </summary>
/// <example><code>new TaskSubmission("add", "[2, 3]") { Delay = TimeSpan.FromSeconds(10), MaxRetries = 5 }</code></example>
[GenerateSerializer, Alias("granary.scheduling.submission")]
public sealed record TaskSubmission(
    [property: Id(0)] string Type,
    [property: Id(1)] string Args)
{
    /// <summary>Queue (default <c>default</c>).</summary>
    [Id(2)]
    public string? Queue { get; init; }

    /// <summary>0 (lowest) to 9; higher runs first within a queue partition.</summary>
    [Id(3)]
    public int Priority { get; init; }

    /// <summary>Run no earlier than this long after submission; never negative.</summary>
    [Id(4)]
    public TimeSpan? Delay { get; init; }

    /// <summary>Run no earlier than this instant.</summary>
    [Id(5)]
    public DateTimeOffset? Eta { get; init; }

    /// <summary>Hard time limit of one run.</summary>
    [Id(6)]
    public TimeSpan? TimeLimit { get; init; }

    /// <summary>Retries after failures before the task is dead-lettered.</summary>
    [Id(7)]
    public int? MaxRetries { get; init; }

    /// <summary>Backoff before the first retry.</summary>
    [Id(8)]
    public TimeSpan? BackoffBase { get; init; }

    /// <summary>Longest backoff.</summary>
    [Id(9)]
    public TimeSpan? BackoffCap { get; init; }

    /// <summary>A second submission with the same key returns the first task instead of creating one.</summary>
    [Id(10)]
    public string? IdempotencyKey { get; init; }

    /// <summary>Affinity key: picks the queue partition, and the worker under source-hash balancing.</summary>
    [Id(11)]
    public string? Key { get; init; }

    /// <summary>Set by workflows: the group or chord this task belongs to.</summary>
    [Id(12)]
    public string? WorkflowId { get; init; }

    /// <summary>Set by workflows: position in the group.</summary>
    [Id(13)]
    public int WorkflowIndex { get; init; }

    /// <summary>Set by chains: the tasks to run after this one, each receiving the previous result as its first argument.</summary>
    [Id(14)]
    public IReadOnlyList<TaskSubmission>? Then { get; init; }
}

/// <summary>A task's durable record as callers see it.</summary>
[GenerateSerializer, Alias("granary.scheduling.info")]
public sealed record TaskInfo
{
    /// <summary>Task id.</summary>
    [Id(0)] public required string Id { get; init; }

    /// <summary>Task type.</summary>
    [Id(1)] public required string Type { get; init; }

    /// <summary>Arguments JSON.</summary>
    [Id(2)] public required string Args { get; init; }

    /// <summary>Queue.</summary>
    [Id(3)] public required string Queue { get; init; }

    /// <summary>State.</summary>
    [Id(4)] public required TaskState State { get; init; }

    /// <summary>Priority.</summary>
    [Id(5)] public int Priority { get; init; }

    /// <summary>Runs started, re-dispatches included.</summary>
    [Id(6)] public int Attempts { get; init; }

    /// <summary>Retries used by failures.</summary>
    [Id(7)] public int Retries { get; init; }

    /// <summary>Retry limit.</summary>
    [Id(8)] public int MaxRetries { get; init; }

    /// <summary>Times dispatched again after losing its worker.</summary>
    [Id(9)] public int Redeliveries { get; init; }

    /// <summary>Submission time.</summary>
    [Id(10)] public DateTimeOffset CreatedAt { get; init; }

    /// <summary>Not dispatched before this.</summary>
    [Id(11)] public DateTimeOffset? Eta { get; init; }

    /// <summary>Start of the last run.</summary>
    [Id(12)] public DateTimeOffset? StartedAt { get; init; }

    /// <summary>When it reached a terminal state.</summary>
    [Id(13)] public DateTimeOffset? FinishedAt { get; init; }

    /// <summary>Worker of the last run.</summary>
    [Id(14)] public string? Worker { get; init; }

    /// <summary>Result JSON when succeeded.</summary>
    [Id(15)] public string? Result { get; init; }

    /// <summary>Last error.</summary>
    [Id(16)] public string? Error { get; init; }

    /// <summary>Group or chord it belongs to.</summary>
    [Id(17)] public string? WorkflowId { get; init; }

    /// <summary>Next task of its chain, once submitted.</summary>
    [Id(18)] public string? NextTaskId { get; init; }

    /// <summary>Time limit of one run.</summary>
    [Id(19)] public TimeSpan TimeLimit { get; init; }

    /// <summary>True in a terminal state.</summary>
    public bool IsTerminal => TaskTransitions.IsTerminal(State);
}

/// <summary>What a worker needs to run a claimed task.</summary>
[GenerateSerializer, Alias("granary.scheduling.execution")]
public sealed record TaskExecution(
    [property: Id(0)] string TaskId,
    [property: Id(1)] string Type,
    [property: Id(2)] string Args,
    [property: Id(3)] int Attempt,
    [property: Id(4)] string LeaseId,
    [property: Id(5)] TimeSpan TimeLimit)
{
    /// <summary>How often the worker must renew the lease (set by the worker grain for a worker in an application's process).</summary>
    [Id(6)]
    public TimeSpan HeartbeatInterval { get; init; }
}

/// <summary>A scheduler's entry for a task waiting in a queue partition.</summary>
[GenerateSerializer, Alias("granary.scheduling.queued")]
public sealed record QueuedTask(
    [property: Id(0)] string TaskId,
    [property: Id(1)] int Priority,
    [property: Id(2)] DateTimeOffset? Eta,
    [property: Id(3)] string? Key);

/// <summary>A scheduler asks a worker to run a task.</summary>
[GenerateSerializer, Alias("granary.scheduling.dispatch")]
public sealed record TaskDispatch(
    [property: Id(0)] string TaskId,
    [property: Id(1)] string Scheduler,
    [property: Id(2)] long DispatchId);

/// <summary>How a worker is set up.</summary>
[GenerateSerializer, Alias("granary.scheduling.worker-settings")]
public sealed record WorkerSettings(
    [property: Id(0)] int Capacity,
    [property: Id(1)] int Weight)
{
    /// <summary>Extra time added to every run (simulates a slow machine).</summary>
    [Id(2)]
    public TimeSpan ExtraLatency { get; init; }

    /// <summary>
    /// Set for a worker in an application's process: the worker grain offers it each dispatch and the
    /// application runs the handler, claiming, heartbeating and finishing through the worker grain.
    /// Such a worker renews its registration by calling <see cref="IWorkerGrain.StartAsync"/> again.
    /// </summary>
    [Id(3)]
    public IWorkerObserver? Observer { get; init; }

    /// <summary>The task types the worker has handlers for; recorded by its queue (<see cref="IQueueGrain.GetTaskTypesAsync"/>).</summary>
    [Id(4)]
    public IReadOnlyList<string>? TaskTypes { get; init; }
}

/// <summary>A worker and the load it reports.</summary>
[GenerateSerializer, Alias("granary.scheduling.worker-info")]
public sealed record WorkerInfo(
    [property: Id(0)] string Id,
    [property: Id(1)] string Queue,
    [property: Id(2)] string Silo,
    [property: Id(3)] int Capacity,
    [property: Id(4)] int Weight,
    [property: Id(5)] int InFlight,
    [property: Id(6)] long Completed,
    [property: Id(7)] long Failed)
{
    /// <summary>The task types it declared (<see cref="WorkerSettings.TaskTypes"/>); null for a worker on a silo.</summary>
    [Id(8)]
    public IReadOnlyList<string>? TaskTypes { get; init; }
}

/// <summary>Per-queue settings.</summary>
[GenerateSerializer, Alias("granary.scheduling.queue-settings")]
public sealed record QueueSettings(
    [property: Id(0)] string Balancer,
    [property: Id(1)] int Partitions);

/// <summary>What declaring a task queue sets; a null setting keeps its current value.</summary>
/// <example><code>await grains.GetGrain&lt;IQueueGrain&gt;("emails").DeclareAsync(new QueueDeclaration { Partitions = 8 });</code></example>
[GenerateSerializer, Alias("granary.scheduling.queue-declaration")]
public sealed record QueueDeclaration
{
    /// <summary>Balancer name (null: keep; the configured default at first).</summary>
    [Id(0)]
    public string? Balancer { get; init; }

    /// <summary>Partition count (null: keep; the configured default at first).</summary>
    [Id(1)]
    public int? Partitions { get; init; }

    /// <summary>Set by a silo declaring the queues its configuration lists: not counted against <see cref="Limits.Scheduling.MaxDeclaredQueues"/>.</summary>
    [Id(2)]
    public bool FromConfiguration { get; init; }
}

/// <summary>A task queue as its queue grain sees it.</summary>
[GenerateSerializer, Alias("granary.scheduling.queue-view")]
public sealed record QueueView(
    [property: Id(0)] string Name,
    [property: Id(1)] bool Declared,
    [property: Id(2)] bool Configured,
    [property: Id(3)] QueueSettings Settings,
    [property: Id(4)] IReadOnlyList<WorkerInfo> Workers,
    [property: Id(5)] IReadOnlyList<int> ActivePartitions);

/// <summary>A scheduler partition's view.</summary>
[GenerateSerializer, Alias("granary.scheduling.scheduler-snapshot")]
public sealed record SchedulerSnapshot(
    [property: Id(0)] string Partition,
    [property: Id(1)] string Balancer,
    [property: Id(2)] int Waiting,
    [property: Id(3)] int InFlight,
    [property: Id(4)] IReadOnlyList<string> WaitingIds,
    [property: Id(5)] IReadOnlyList<string> InFlightIds,
    [property: Id(6)] IReadOnlyDictionary<string, long> DispatchedPerWorker);

/// <summary>A dead-lettered task.</summary>
[GenerateSerializer, Alias("granary.scheduling.dead-letter")]
public sealed record DeadLetter(
    [property: Id(0)] string TaskId,
    [property: Id(1)] DateTimeOffset At,
    [property: Id(2)] string? Error);

/// <summary>Kind of workflow.</summary>
[GenerateSerializer, Alias("granary.scheduling.workflow-kind")]
public enum WorkflowKind
{
    /// <summary>Tasks run in parallel.</summary>
    Group,

    /// <summary>A group, then a callback with all results, run once.</summary>
    Chord,
}

/// <summary>A group or chord to start.</summary>
[GenerateSerializer, Alias("granary.scheduling.workflow-request")]
public sealed record WorkflowRequest(
    [property: Id(0)] WorkflowKind Kind,
    [property: Id(1)] IReadOnlyList<TaskSubmission> Members,
    [property: Id(2)] TaskSubmission? Callback);

/// <summary>A workflow's progress.</summary>
[GenerateSerializer, Alias("granary.scheduling.workflow-info")]
public sealed record WorkflowInfo(
    [property: Id(0)] string Id,
    [property: Id(1)] WorkflowKind Kind,
    [property: Id(2)] IReadOnlyList<string> MemberIds,
    [property: Id(3)] int Succeeded,
    [property: Id(4)] int Failed,
    [property: Id(5)] string? CallbackTaskId,
    [property: Id(6)] bool CallbackSubmitted,
    [property: Id(7)] string? Results);

/// <summary>A periodic task.</summary>
[GenerateSerializer, Alias("granary.scheduling.periodic-info")]
public sealed record PeriodicTaskInfo(
    [property: Id(0)] string Name,
    [property: Id(1)] string Cron,
    [property: Id(2)] TaskSubmission Template,
    [property: Id(3)] DateTimeOffset? LastFiredTick,
    [property: Id(4)] long Fired,
    [property: Id(5)] DateTimeOffset? NextTick,
    [property: Id(6)] bool Enabled);
