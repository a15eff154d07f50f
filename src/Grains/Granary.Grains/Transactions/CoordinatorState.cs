namespace Granary.Transactions;

/// <summary>Persisted record of <see cref="TwoPhaseCommitCoordinatorGrain"/>: written only once decided (presumed abort).</summary>
[GenerateSerializer, Alias("granary.tx.coordinator-state")]
public sealed class CoordinatorState
{
    /// <summary>Fingerprint of the request ("" for a presumed-abort tombstone written on an inquiry).</summary>
    [Id(0)]
    public string? Fingerprint { get; set; }

    /// <summary>Participants.</summary>
    [Id(1)]
    public List<ParticipantRef> Participants { get; set; } = [];

    /// <summary><see cref="CoordinatorPhase"/> as a number.</summary>
    [Id(2)]
    public int Phase { get; set; }

    /// <summary><see cref="TransactionDecision"/> as a number.</summary>
    [Id(3)]
    public int Decision { get; set; }

    /// <summary>Participants that acknowledged the decision.</summary>
    [Id(4)]
    public List<string> Acknowledged { get; set; } = [];

    /// <summary>Why it aborted.</summary>
    [Id(5)]
    public string? AbortReason { get; set; }

    /// <summary>Machine-readable abort cause.</summary>
    [Id(6)]
    public string? AbortCode { get; set; }

    /// <summary>When decided.</summary>
    [Id(7)]
    public DateTimeOffset? DecidedAt { get; set; }

    /// <summary>How many times an activation resumed phase two from this record.</summary>
    [Id(8)]
    public int Recoveries { get; set; }

    /// <summary>Json.NET: leave <see cref="Acknowledged"/> out when empty (restores to the same empty list; see <see cref="ParticipantState"/>).</summary>
    public bool ShouldSerializeAcknowledged() => Acknowledged.Count > 0;
}

/// <summary>Persisted state of <see cref="TransactionRecoveryGrain"/>.</summary>
[GenerateSerializer, Alias("granary.tx.recovery-state")]
public sealed class RecoveryState
{
    /// <summary>Unfinished transactions and since when.</summary>
    [Id(0)]
    public Dictionary<string, DateTimeOffset> Entries { get; set; } = new(StringComparer.Ordinal);
}

/// <summary>Persisted state of <see cref="SagaGrain"/>.</summary>
[GenerateSerializer, Alias("granary.saga.state")]
public sealed class SagaState
{
    /// <summary>The definition (null before the first run).</summary>
    [Id(0)]
    public SagaDefinition? Definition { get; set; }

    /// <summary><see cref="SagaStatus"/> as a number.</summary>
    [Id(1)]
    public int Status { get; set; }

    /// <summary>Current step.</summary>
    [Id(2)]
    public int Step { get; set; }

    /// <summary>Current attempt.</summary>
    [Id(3)]
    public int Attempt { get; set; }

    /// <summary>Backoff deadline.</summary>
    [Id(4)]
    public DateTimeOffset? NotBefore { get; set; }

    /// <summary>Last error.</summary>
    [Id(5)]
    public string? LastError { get; set; }

    /// <summary>Step whose action failed.</summary>
    [Id(6)]
    public int? FailedStep { get; set; }

    /// <summary>Journal.</summary>
    [Id(7)]
    public List<string> Journal { get; set; } = [];
}

/// <summary>Persisted outcome of <see cref="ThreePhaseCommitCoordinatorGrain"/>: written once the transaction is decided and sent, for replays and status (3PC's safety does not rest on it).</summary>
[GenerateSerializer, Alias("granary.tx.coordinator-3pc-state")]
public sealed class ThreePhaseCoordinatorState
{
    /// <summary>Fingerprint of the request.</summary>
    [Id(0)]
    public string? Fingerprint { get; set; }

    /// <summary>Participants.</summary>
    [Id(1)]
    public List<ParticipantRef> Participants { get; set; } = [];

    /// <summary><see cref="TransactionDecision"/> as a number.</summary>
    [Id(2)]
    public int Decision { get; set; }

    /// <summary>Why it aborted.</summary>
    [Id(3)]
    public string? AbortReason { get; set; }

    /// <summary>Machine-readable abort cause.</summary>
    [Id(4)]
    public string? AbortCode { get; set; }

    /// <summary>When decided.</summary>
    [Id(5)]
    public DateTimeOffset? DecidedAt { get; set; }

    /// <summary>Participants that did not acknowledge the last message (they finish by their own timeout).</summary>
    [Id(6)]
    public List<string> Unacknowledged { get; set; } = [];

    /// <summary>True when this run found the participants already voted (a retry after a coordinator crash) and finished from their states.</summary>
    [Id(7)]
    public bool Resumed { get; set; }
}
