namespace Granary;

/// <summary>Documented limits enforced on every request (README, "Limits").</summary>
public static class Limits
{
    /// <summary>Longest key or name, in characters: 256.</summary>
    public const int MaxKeyLength = 256;

    /// <summary>Longest value, in characters: 64 KiB.</summary>
    public const int MaxValueLength = 64 * 1024;

    /// <summary>Most items in one batch request: 1,000.</summary>
    public const int MaxBatchSize = 1_000;

    /// <summary>Limits of the worker schedulers (docs/scheduling.md, "Limits").</summary>
    public static class Scheduling
    {
        /// <summary>Longest task queue name: 100 characters (no <c>/</c>).</summary>
        public const int MaxQueueNameLength = 100;

        /// <summary>Most task queues declared at run time: 1,000 (queues named in configuration are not counted).</summary>
        public const int MaxDeclaredQueues = 1_000;

        /// <summary>Most periodic tasks: 1,000.</summary>
        public const int MaxPeriodicTasks = 1_000;

        /// <summary>Most scheduler partitions per task queue: 64.</summary>
        public const int MaxPartitions = 64;

        /// <summary>Longest wait before a task may run, by <c>Delay</c> or by <c>Eta</c> (ETA minus now): 365 days.</summary>
        public static readonly TimeSpan MaxDelay = TimeSpan.FromDays(365);

        /// <summary>A cron expression must fire within this long from now: 5 years (leap-day schedules fire every 4).</summary>
        public static readonly TimeSpan MaxCronHorizon = TimeSpan.FromDays(5 * 365 + 2);

        /// <summary>Longest time limit of one run: 1 day.</summary>
        public static readonly TimeSpan MaxTimeLimit = TimeSpan.FromDays(1);

        /// <summary>Most retries of one task: 100.</summary>
        public const int MaxRetries = 100;

        /// <summary>Highest priority: 9 (0 is the lowest).</summary>
        public const int MaxPriority = 9;
    }
}
