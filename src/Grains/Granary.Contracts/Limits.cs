namespace Granary;

/// <summary>
/// The one table of request limits: every grain entry point enforces these with a typed
/// <see cref="Errors.InvalidRequestException"/> (<c>INVALID_ARGUMENT</c>) before it changes anything,
/// the SDK and the console check the same constants, and the README's "Limits" table lists them
/// (a test compares the two). A family's own limits live in its nested class; the common rules
/// (names, values, batches, message size) apply wherever a family has no stricter one.
/// </summary>
/// <remarks>
/// <para>Lengths of text are in UTF-16 code units (.NET <see cref="string.Length"/>); lengths of
/// bodies are in bytes.</para>
/// <para>Text that reaches storage (names, keys, values, task arguments) must be well-formed:
/// no U+0000 (PostgreSQL <c>text</c> cannot hold it) and no unpaired surrogate (UTF-8 cannot carry
/// it). <see cref="Errors.Guard"/> checks both.</para>
/// </remarks>
/// <example><code>
/// Guard.Name(name, "queue");                                  // 1..Limits.MaxKeyLength, well-formed
/// Guard.InRange(count, "count", 1, Limits.MaxBatchSize);
/// </code></example>
public static class Limits
{
    /// <summary>Longest key or name (lock, cache, cache key, queue, exchange, account, task id...): 256 characters.</summary>
    public const int MaxKeyLength = 256;

    /// <summary>Longest value (cache value or element, document, fenced write, task arguments), in characters, or queue body, in bytes: 64 KiB.</summary>
    public const int MaxValueLength = 64 * 1024;

    /// <summary>Most items in one batch request (cache commands per call, messages per enqueue or dequeue, receipts, workflow members, locks per multi-acquire): 1,000.</summary>
    public const int MaxBatchSize = 1_000;

    /// <summary>
    /// Longest grain key of any Granary grain, in characters: 512. Some keys are a name plus a
    /// derived part (a cache shard is <c>cache/shard</c>, a queue partition <c>queue/partition</c>),
    /// so this is wider than <see cref="MaxKeyLength"/>; the family checks the name itself.
    /// </summary>
    public const int MaxGrainKeyLength = 2 * MaxKeyLength;

    /// <summary>
    /// Largest serialised body of one Orleans message (request or reply), in bytes: 72 MiB. Set as
    /// Orleans' <c>MaxMessageBodySize</c> on silos and clients: a silo refuses a larger frame from any
    /// peer before it deserialises it, and a larger message is never sent. It fits a full batch of
    /// <see cref="MaxBatchSize"/> bodies of <see cref="MaxValueLength"/> bytes with their keys; values
    /// in multi-byte characters can make a batch larger, so the SDK splits coalesced batches by size.
    /// </summary>
    public const int MaxMessageBytes = 72 * 1024 * 1024;

    /// <summary>Lock leases (<c>ILockGrain</c>, <c>IFencedResourceGrain</c>).</summary>
    public static class Locks
    {
        /// <summary>Most permits of a semaphore: 10,000. A mutex and a read-write lock take no permits.</summary>
        public const int MaxPermits = 10_000;

        /// <summary>Longest ttl any configuration may allow (<c>Granary:Locks:MaxTtl</c> and <c>LockDelay</c> are at most this): 1 day.</summary>
        public static readonly TimeSpan MaxConfigurableTtl = TimeSpan.FromDays(1);

        /// <summary>Longest total wait any configuration may allow (<c>Granary:Locks:MaxWait</c>): 1 day.</summary>
        public static readonly TimeSpan MaxConfigurableWait = TimeSpan.FromDays(1);

        /// <summary>Longest server-side wait of one acquire call any configuration may allow (<c>Granary:Locks:MaxCallWait</c>): 25 s, below Orleans' 30 s response timeout.</summary>
        public static readonly TimeSpan MaxConfigurableCallWait = TimeSpan.FromSeconds(25);

        /// <summary>Most waiters per lock any configuration may allow (<c>Granary:Locks:MaxWaiters</c>): 1,000,000.</summary>
        public const int MaxConfigurableWaiters = 1_000_000;
    }

    /// <summary>Cache shards (<c>ICacheShardGrain</c>, <c>ICacheDefinitionGrain</c>).</summary>
    public static class Caching
    {
        /// <summary>Longest value or collection element, in characters: <see cref="Limits.MaxValueLength"/>; <c>Granary:Caching:MaxValueLength</c> may lower it, never raise it.</summary>
        public const int MaxValueLength = Limits.MaxValueLength;

        /// <summary>Most shards any configuration may allow (<c>Granary:Caching:MaxShards</c>): 65,535.</summary>
        public const int MaxConfigurableShards = 65_535;

        /// <summary>Longest KEYS or SCAN MATCH pattern, in characters: 512.</summary>
        public const int MaxPatternLength = 512;

        /// <summary>Most wildcards in a pattern (a run of <c>*</c> counts once, each <c>?</c> and <c>[...]</c> once): 64.</summary>
        public const int MaxPatternWildcards = 64;

        /// <summary>Most keys one SCAN call visits on a shard, whatever its COUNT: 1,000.</summary>
        public const int MaxScanCount = 1_000;

        /// <summary>Largest shard KEYS examines; on a larger one KEYS is refused (use SCAN): 100,000 keys.</summary>
        public const int MaxKeysPerKeysCommand = 100_000;

        /// <summary>Most near-cache subscriptions one shard holds: 10,000.</summary>
        public const int MaxSubscribersPerShard = 10_000;
    }

    /// <summary>Queue partitions and exchanges (<c>IQueueGrain</c>, <c>IQueuePartitionGrain</c>, <c>IExchangeGrain</c>).</summary>
    public static class Queues
    {
        /// <summary>Largest message body, in bytes: <see cref="Limits.MaxValueLength"/>.</summary>
        public const int MaxBodyBytes = Limits.MaxValueLength;

        /// <summary>Most partitions per queue: 256.</summary>
        public const int MaxPartitions = 256;

        /// <summary>Most deliveries allowed before dead-lettering: 1,000.</summary>
        public const int MaxDeliveries = 1_000;

        /// <summary>Longest delay or nack delay: 7 days.</summary>
        public static readonly TimeSpan MaxDelay = TimeSpan.FromDays(7);

        /// <summary>Longest visibility timeout: 12 hours.</summary>
        public static readonly TimeSpan MaxVisibilityTimeout = TimeSpan.FromHours(12);

        /// <summary>Longest long-poll wait of one dequeue call: 20 s (below the 30 s call timeout).</summary>
        public static readonly TimeSpan MaxWait = TimeSpan.FromSeconds(20);

        /// <summary>Longest deduplication window: 1 day.</summary>
        public static readonly TimeSpan MaxDeduplicationWindow = TimeSpan.FromDays(1);

        /// <summary>Largest max depth of a queue, and of the configured ceiling: 1,000,000,000 messages.</summary>
        public const long MaxDepth = 1_000_000_000;

        /// <summary>Max depth of a queue created without one, unless configured (<c>Granary:Queues:DefaultMaxDepth</c>): 1,000,000 messages.</summary>
        public const long DefaultMaxDepth = 1_000_000;

        /// <summary>Largest max depth a queue may be created with, unless configured (<c>Granary:Queues:MaxDepthCeiling</c>): 10,000,000 messages.</summary>
        public const long DefaultMaxDepthCeiling = 10_000_000;

        /// <summary>Largest memory window of a partition (<c>Granary:Queues:MemoryWindow</c>): 1,000,000 messages.</summary>
        public const int MaxMemoryWindow = 1_000_000;
    }

    /// <summary>Transaction coordinators, sagas and participants.</summary>
    public static class Transactions
    {
        /// <summary>Most participants in one transaction, or steps in one saga: 32.</summary>
        public const int MaxParticipants = 32;

        /// <summary>Largest balance or amount, in minor units: 10^15.</summary>
        public const long MaxAmount = 1_000_000_000_000_000;

        /// <summary>Largest stock of one SKU: 10^9.</summary>
        public const int MaxStock = 1_000_000_000;

        /// <summary>Shortest three-phase-commit timeout a transaction may name: 300 ms.</summary>
        public static readonly TimeSpan MinThreePhaseTimeout = TimeSpan.FromMilliseconds(300);

        /// <summary>Longest three-phase-commit timeout a transaction may name: 1 hour.</summary>
        public static readonly TimeSpan MaxThreePhaseTimeout = TimeSpan.FromHours(1);
    }

    /// <summary>Worker schedulers (<c>ITaskGrain</c>, <c>IWorkflowGrain</c>, <c>IPeriodicTaskGrain</c>, task queues).</summary>
    public static class Scheduling
    {
        /// <summary>Longest task queue name: 100 characters (without <c>/</c>); worker and scheduler ids are built from it.</summary>
        public const int MaxQueueNameLength = 100;

        /// <summary>Most task queues declared at run time: 1,000 (queues named in configuration are not counted).</summary>
        public const int MaxDeclaredQueues = 1_000;

        /// <summary>Longest task type name: 100 characters.</summary>
        public const int MaxTaskTypeLength = 100;

        /// <summary>Most task types the workers of one queue may declare: 1,000.</summary>
        public const int MaxDeclaredTaskTypes = 1_000;

        /// <summary>Most periodic tasks: 1,000.</summary>
        public const int MaxPeriodicTasks = 1_000;

        /// <summary>A cron expression must fire within this long from now: 5 years (leap-day schedules fire every 4).</summary>
        public static readonly TimeSpan MaxCronHorizon = TimeSpan.FromDays(5 * 365 + 2);

        /// <summary>Longest periodic task name: 100 characters; the ids of its ticks are built from it.</summary>
        public const int MaxPeriodicNameLength = 100;

        /// <summary>Longest group or chord id: 240 characters; its member and callback task ids are built from it (<c>id.N</c>, <c>id.callback</c>).</summary>
        public const int MaxWorkflowIdLength = MaxKeyLength - 16;

        /// <summary>Longest idempotency key: 200 characters; the task id is built from it.</summary>
        public const int MaxIdempotencyKeyLength = 200;

        /// <summary>Longest task arguments (a JSON array), in characters: <see cref="Limits.MaxValueLength"/>.</summary>
        public const int MaxArgumentsLength = Limits.MaxValueLength;

        /// <summary>Highest priority: 9 (0 is the lowest).</summary>
        public const int MaxPriority = 9;

        /// <summary>Most retries of one task: 100.</summary>
        public const int MaxRetries = 100;

        /// <summary>Longest wait before a task may run, by <c>Delay</c> or by <c>Eta</c> (ETA minus now): 365 days.</summary>
        public static readonly TimeSpan MaxDelay = TimeSpan.FromDays(365);

        /// <summary>Longest time limit of one run: 1 day.</summary>
        public static readonly TimeSpan MaxTimeLimit = TimeSpan.FromDays(1);

        /// <summary>Most members of a group or chord: <see cref="MaxBatchSize"/>.</summary>
        public const int MaxWorkflowMembers = MaxBatchSize;

        /// <summary>Most partitions of a task queue: 64 (they only grow once the queue is in use).</summary>
        public const int MaxPartitions = 64;

        /// <summary>Dead letters kept per task queue (the newest): 10,000.</summary>
        public const int MaxDeadLetters = 10_000;
    }
}
