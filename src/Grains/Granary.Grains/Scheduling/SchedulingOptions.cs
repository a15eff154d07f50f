namespace Granary.Scheduling;

/// <summary>Settings of the worker schedulers (<c>Granary:Scheduling</c>).</summary>
public sealed class SchedulingOptions
{
    /// <summary>Configuration section.</summary>
    public const string SectionName = "Granary:Scheduling";

    /// <summary>Queue used when a submission names none.</summary>
    public const string DefaultQueue = "default";

    /// <summary>
    /// Queues every silo runs workers for; each is declared by the silo's keeper (other queues must be
    /// declared at run time before tasks can be sent to them). Default: <c>default</c>.
    /// </summary>
    public string[] Queues { get; set; } = [DefaultQueue];

    /// <summary>Worker grains each silo starts per queue. Default 2.</summary>
    public int WorkersPerSilo { get; set; } = 2;

    /// <summary>Tasks one worker runs at once. Default 32.</summary>
    public int WorkerCapacity { get; set; } = 32;

    /// <summary>Weight of this silo's workers for weighted balancers. Default 1.</summary>
    public int WorkerWeight { get; set; } = 1;

    /// <summary>Balancer of a queue until configured otherwise. Default <c>least-connections</c>.</summary>
    public string DefaultBalancer { get; set; } = "least-connections";

    /// <summary>Scheduler partitions of a queue until configured otherwise. Default 4.</summary>
    public int DefaultPartitions { get; set; } = 4;

    /// <summary>Time limit of one run when the submission gives none. Default 5 minutes.</summary>
    public TimeSpan DefaultTimeLimit { get; set; } = TimeSpan.FromMinutes(5);

    /// <summary>Retries when the submission gives none. Default 3.</summary>
    public int DefaultMaxRetries { get; set; } = 3;

    /// <summary>Backoff before the first retry. Default 1 s.</summary>
    public TimeSpan DefaultBackoffBase { get; set; } = TimeSpan.FromSeconds(1);

    /// <summary>Longest backoff. Default 60 s.</summary>
    public TimeSpan DefaultBackoffCap { get; set; } = TimeSpan.FromSeconds(60);

    /// <summary>A running task whose worker has not heartbeated for this long is dispatched again. Default 5 s.</summary>
    public TimeSpan LeaseTimeout { get; set; } = TimeSpan.FromSeconds(5);

    /// <summary>How often workers heartbeat their running tasks. Default 1 s.</summary>
    public TimeSpan HeartbeatInterval { get; set; } = TimeSpan.FromSeconds(1);

    /// <summary>How long results of finished tasks are kept. Default 1 day.</summary>
    public TimeSpan ResultRetention { get; set; } = TimeSpan.FromDays(1);

    /// <summary>How often every silo ticks the queues and periodic tasks (re-activating them after silo loss). Default 2 s.</summary>
    public TimeSpan KeeperInterval { get; set; } = TimeSpan.FromSeconds(2);

    /// <summary>A scheduler partition that has held no task for this long deactivates (its timer stops) until a task reaches it. Default 30 s.</summary>
    public TimeSpan SchedulerIdleTimeout { get; set; } = TimeSpan.FromSeconds(30);

    /// <summary>
    /// When set, every worker of this silo appends one JSON line per handler run start and finish to
    /// <c>runs-SILO.jsonl</c> in this directory (an audit of how often task code really ran; the
    /// silo-loss tests count runs with it). Default empty: no journal.
    /// </summary>
    public string RunJournalDirectory { get; set; } = string.Empty;

    /// <summary>
    /// Runs the demonstration task handlers (add, multiply, xsum, pick-order, assign-rider, sleep, flaky,
    /// chaos) on this silo's own workers. Default false: a production silo runs no code of its own for tasks;
    /// applications run their task types in their own processes (<c>AddGranaryWorker</c>), and a silo starts
    /// no workers. The embedded quick start, <c>scripts/cluster.sh</c> and the tests turn it on.
    /// </summary>
    public bool DemoHandlers { get; set; }

    /// <summary>Simulated grocery work of the demonstration handlers (used only with <see cref="DemoHandlers"/>).</summary>
    public GroceryOptions Grocery { get; set; } = new();

    /// <summary>Per-type rate limits across the cluster, by task type.</summary>
    public Dictionary<string, RateLimitOptions> RateLimits { get; set; } = new(StringComparer.Ordinal);
}

/// <summary>Simulated durations and failure rates of <c>pick-order</c> and <c>assign-rider</c>.</summary>
public sealed class GroceryOptions
{
    /// <summary>Milliseconds one pick takes. Default 20.</summary>
    public int PickDurationMs { get; set; } = 20;

    /// <summary>Fraction of picks that fail, 0..1. Default 0.</summary>
    public double PickFailureRate { get; set; }

    /// <summary>Milliseconds one rider assignment takes. Default 10.</summary>
    public int AssignDurationMs { get; set; } = 10;

    /// <summary>Fraction of assignments that fail, 0..1. Default 0.</summary>
    public double AssignFailureRate { get; set; }
}

/// <summary>A token bucket for one task type.</summary>
public sealed class RateLimitOptions
{
    /// <summary>Tasks per second, cluster-wide.</summary>
    public double PerSecond { get; set; }

    /// <summary>Tasks that may start at once after idling. Default: one second's worth.</summary>
    public int Burst { get; set; }
}
