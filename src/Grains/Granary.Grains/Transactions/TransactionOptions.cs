namespace Granary.Transactions;

/// <summary>Timeouts and retention of the transaction family (<c>Granary:Transactions</c>).</summary>
public sealed class TransactionOptions
{
    /// <summary>Configuration section.</summary>
    public const string SectionName = "Granary:Transactions";

    /// <summary>How long the coordinator waits for votes before aborting. Default 5 s.</summary>
    public TimeSpan PrepareTimeout { get; set; } = TimeSpan.FromSeconds(5);

    /// <summary>Timeout of one commit/abort call in phase two (then retried). Default 5 s.</summary>
    public TimeSpan CallTimeout { get; set; } = TimeSpan.FromSeconds(5);

    /// <summary>How long an execute call keeps retrying phase two before leaving the rest to a timer. Default 10 s.</summary>
    public TimeSpan PhaseTwoBudget { get; set; } = TimeSpan.FromSeconds(10);

    /// <summary>A participant prepared this long without a decision asks the coordinator. Default 10 s.</summary>
    public TimeSpan PreparedTimeout { get; set; } = TimeSpan.FromSeconds(10);

    /// <summary>How often a prepared participant checks, and re-asks a coordinator that answered "pending". Default 2 s.</summary>
    public TimeSpan InquiryInterval { get; set; } = TimeSpan.FromSeconds(2);

    /// <summary>How long a participant remembers finished transactions at most. Default 10 min.</summary>
    public TimeSpan OutcomeRetention { get; set; } = TimeSpan.FromMinutes(10);

    /// <summary>
    /// At most this many finished transactions are remembered per participant, beyond those younger
    /// than <see cref="OutcomeRetentionFloor"/> (always kept). They are written with every state
    /// change of the participant, so this bounds the cost of its writes. Default 24.
    /// </summary>
    public int MaxRememberedOutcomes { get; set; } = 24;

    /// <summary>
    /// Largest difference between two silos' clocks that the protocol tolerates: a prepare carries
    /// the time after which its coordinator no longer waits for it (sent time plus
    /// <see cref="PrepareTimeout"/>, by the coordinator's clock) and a participant refuses it after
    /// that (by its own). Default 5 s.
    /// </summary>
    public TimeSpan MaxClockSkew { get; set; } = TimeSpan.FromSeconds(5);

    /// <summary>
    /// Finished transactions younger than this are remembered whatever their number:
    /// <see cref="PrepareTimeout"/> + <see cref="MaxClockSkew"/>, the longest a duplicate prepare
    /// can still be accepted after its transaction finished here.
    /// </summary>
    public TimeSpan OutcomeRetentionFloor => PrepareTimeout + MaxClockSkew;

    /// <summary>
    /// How long a saga step a participant no longer needs is still remembered:
    /// <see cref="CallTimeout"/> + <see cref="MaxClockSkew"/>. A saga's action carries a deadline (its
    /// send time plus <see cref="CallTimeout"/>, the saga's wait for the answer) and is refused after it,
    /// so no copy of an action can arrive later than this after the saga stopped sending it: after its
    /// compensation arrived, or after the saga said it has finished. Also the age at which a participant
    /// first asks a saga whether it has finished (then backing off up to <see cref="OutcomeRetention"/>).
    /// Steps sent by callers other than a saga grain are kept for <see cref="OutcomeRetention"/>.
    /// </summary>
    public TimeSpan SagaStepWindow => CallTimeout + MaxClockSkew;

    /// <summary>First retry delay (doubles up to <see cref="RetryMax"/>, with jitter). Default 100 ms.</summary>
    public TimeSpan RetryInitial { get; set; } = TimeSpan.FromMilliseconds(100);

    /// <summary>Largest retry delay. Default 5 s.</summary>
    public TimeSpan RetryMax { get; set; } = TimeSpan.FromSeconds(5);

    /// <summary>Keep unfinished decisions in the recovery registry so they finish even if nobody asks. Default true.</summary>
    public bool UseRecoveryRegistry { get; set; } = true;

    /// <summary>
    /// Register every decision (in parallel with its write) instead of only those whose phase two
    /// outlives the execute call. Closes the window where a coordinator and all its unacknowledged
    /// participants die together and nobody touches them again, at the cost of two registry writes
    /// per transaction. Default false: such participants resolve when next activated.
    /// </summary>
    public bool RegisterEveryDecision { get; set; }

    /// <summary>How often each registry bucket wakes unfinished coordinators (and how old an entry must be). Default 5 s.</summary>
    public TimeSpan RecoveryScanInterval { get; set; } = TimeSpan.FromSeconds(5);

    /// <summary>
    /// Three-phase commit: how long a participant waits in each state before deciding alone, when a
    /// transaction does not name its own. The coordinator bounds each of its phases by a third of it,
    /// so the bounded-delay assumption is: every message and its processing take less than that. Default 6 s.
    /// </summary>
    public TimeSpan ThreePhaseTimeout { get; set; } = TimeSpan.FromSeconds(6);

    /// <summary>
    /// Group commit of participant outcomes: a commit or abort is applied and acknowledged at once and
    /// written with the participant's next write, at the latest after this delay (or on deactivation).
    /// Safe because the outcome is recoverable from the durable prepared record plus the coordinator's
    /// durable decision; zero writes every outcome before acknowledging. Default 10 s, the default
    /// <see cref="PreparedTimeout"/>: an outcome lost in a crash is resolved by inquiry after about that long anyway.
    /// </summary>
    public TimeSpan OutcomeFlushDelay { get; set; } = TimeSpan.FromSeconds(10);

    /// <summary>
    /// Shortest <see cref="DecisionRetention"/>: 10 minutes, well beyond every retry and phase-two
    /// window. A decision record cannot be deleted sooner than this after its decision, so a
    /// coordinator may trust the copy it holds for half of it (<see cref="DecisionTrustedFor"/>).
    /// </summary>
    public static readonly TimeSpan MinDecisionRetention = TimeSpan.FromMinutes(10);

    /// <summary>
    /// How long after its decision a coordinator answers from the record it holds in memory: half of
    /// <see cref="MinDecisionRetention"/>, which leaves room for any clock skew between the silos and
    /// the database. After that it reads the record again before answering, resuming or compacting:
    /// the record may have been deleted by the decision sweep and the id run anew.
    /// </summary>
    public static readonly TimeSpan DecisionTrustedFor = MinDecisionRetention / 2;

    /// <summary>
    /// How long a two-phase commit's decision record is kept after its last change: within this window
    /// a replay of the same transaction id is answered with the recorded outcome (and a reuse with
    /// other content refused); after it, the record is deleted once every participant has its outcome
    /// durably (see <see cref="DecisionSweepInterval"/>), and the id may run again as a new
    /// transaction. At least 10 minutes. Default 24 hours.
    /// </summary>
    public TimeSpan DecisionRetention { get; set; } = TimeSpan.FromHours(24);

    /// <summary>
    /// How often each silo looks for decision records older than <see cref="DecisionRetention"/> on the
    /// PostgreSQL shards (one silo per shard at a time). Memory storage keeps every record for the
    /// silo's lifetime. Default 10 minutes.
    /// </summary>
    public TimeSpan DecisionSweepInterval { get; set; } = TimeSpan.FromMinutes(10);

    /// <summary>Attempts per saga action before compensating. Default 3.</summary>
    public int SagaMaxActionAttempts { get; set; } = 3;

    /// <summary>Attempts per saga compensation before CompensationFailed. Default 5.</summary>
    public int SagaMaxCompensationAttempts { get; set; } = 5;

    /// <summary>The retry backoff these options describe.</summary>
    public RetryBackoff Backoff => new(RetryInitial, RetryMax);

    /// <summary>The two-phase commit bounds these options describe.</summary>
    public TwoPhaseCommitSettings TwoPhaseCommit => new(PrepareTimeout, CallTimeout, Backoff, TransactionErrorCodes.Aborted);
}
