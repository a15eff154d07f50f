namespace Granary.Transactions;

/// <summary>Persisted part every transaction participant shares: its ledger, reservations and saga barriers.</summary>
[GenerateSerializer, Alias("granary.tx.participant-state")]
public class ParticipantState
{
    /// <summary>Open (prepared or pre-committed) transactions; rows written before <see cref="Outcomes"/> existed may also hold finished ones.</summary>
    [Id(0)]
    public List<ParticipantRecord> Transactions { get; set; } = [];

    /// <summary>Reservation held by each prepared transaction.</summary>
    [Id(1)]
    public Dictionary<string, TxOperation> Reservations { get; set; } = new(StringComparer.Ordinal);

    /// <summary>TCC barrier per saga step key (<see cref="TccStepState"/> as a number), as rows written before <see cref="SagaBarriers"/> existed hold it; read, then written as <see cref="SagaBarriers"/>.</summary>
    [Id(2)]
    public Dictionary<string, int> SagaSteps { get; set; } = new(StringComparer.Ordinal);

    /// <summary>Three-phase commit: the other participants of each open transaction (asked when the timeout expires).</summary>
    [Id(3)]
    public Dictionary<string, List<ParticipantRef>> ThreePhasePeers { get; set; } = new(StringComparer.Ordinal);

    /// <summary>Recent outcomes (committed or aborted transactions), one <see cref="ParticipantOutcomeCodec"/> string each, as rows written before <see cref="OutcomeBlock"/> existed hold them; read, then written as <see cref="OutcomeBlock"/>.</summary>
    [Id(4)]
    public List<string> Outcomes { get; set; } = [];

    /// <summary>Saga steps still remembered (TCC barriers), one <see cref="TccStepCodec"/> string each.</summary>
    [Id(5)]
    public List<string> SagaBarriers { get; set; } = [];

    /// <summary>Recent outcomes (committed or aborted transactions) as one <see cref="ParticipantOutcomeTexts"/> block; null when there is none.</summary>
    [Id(6)]
    public byte[]? OutcomeBlock { get; set; }

    // Grain state is stored as JSON with a full type name on every collection: an empty collection
    // costs about 150 bytes on every write and restores to the same empty value when left out, so
    // it is left out (Json.NET's ShouldSerialize{Property} convention; the binary codec ignores these).

    /// <summary>Json.NET: leave <see cref="Transactions"/> out when empty.</summary>
    public bool ShouldSerializeTransactions() => Transactions.Count > 0;

    /// <summary>Json.NET: leave <see cref="Reservations"/> out when empty.</summary>
    public bool ShouldSerializeReservations() => Reservations.Count > 0;

    /// <summary>Json.NET: leave <see cref="SagaSteps"/> out when empty.</summary>
    public bool ShouldSerializeSagaSteps() => SagaSteps.Count > 0;

    /// <summary>Json.NET: leave <see cref="ThreePhasePeers"/> out when empty.</summary>
    public bool ShouldSerializeThreePhasePeers() => ThreePhasePeers.Count > 0;

    /// <summary>Json.NET: leave <see cref="Outcomes"/> out when empty.</summary>
    public bool ShouldSerializeOutcomes() => Outcomes.Count > 0;

    /// <summary>Json.NET: leave <see cref="OutcomeBlock"/> out when empty.</summary>
    public bool ShouldSerializeOutcomeBlock() => OutcomeBlock is { Length: > 0 };

    /// <summary>Json.NET: leave <see cref="SagaBarriers"/> out when empty.</summary>
    public bool ShouldSerializeSagaBarriers() => SagaBarriers.Count > 0;
}

/// <summary>One <see cref="ParticipantEntry"/> as stored.</summary>
[GenerateSerializer, Alias("granary.tx.participant-record")]
public sealed class ParticipantRecord
{
    /// <summary>Transaction id.</summary>
    [Id(0)]
    public string TransactionId { get; set; } = string.Empty;

    /// <summary>Content digest.</summary>
    [Id(1)]
    public string Fingerprint { get; set; } = string.Empty;

    /// <summary>Status (<see cref="ParticipantStatus"/> as a number: stored state does not depend on enum codecs).</summary>
    [Id(2)]
    public int Status { get; set; }

    /// <summary>Since when.</summary>
    [Id(3)]
    public DateTimeOffset Since { get; set; }

    /// <summary>Last inquiry.</summary>
    [Id(4)]
    public DateTimeOffset? LastInquiry { get; set; }

    /// <summary>Three-phase commit timeout (null for two-phase commit).</summary>
    [Id(5)]
    public TimeSpan? ThreePhaseTimeout { get; set; }
}

/// <summary>State of <see cref="AccountGrain"/>.</summary>
[GenerateSerializer, Alias("granary.tx.account-state")]
public sealed class AccountState : ParticipantState
{
    /// <summary>Opened.</summary>
    [Id(0)]
    public bool Open { get; set; }

    /// <summary>Balance in minor units.</summary>
    [Id(1)]
    public long Balance { get; set; }
}

/// <summary>State of <see cref="InventoryGrain"/>.</summary>
[GenerateSerializer, Alias("granary.tx.inventory-state")]
public sealed class InventoryState : ParticipantState
{
    /// <summary>Stock per SKU.</summary>
    [Id(0)]
    public Dictionary<string, int> Stock { get; set; } = new(StringComparer.Ordinal);
}

/// <summary>State of <see cref="CouponGrain"/>.</summary>
[GenerateSerializer, Alias("granary.tx.coupon-state")]
public sealed class CouponState : ParticipantState
{
    /// <summary>Issued.</summary>
    [Id(0)]
    public bool Issued { get; set; }

    /// <summary>Discount in minor units.</summary>
    [Id(1)]
    public long Discount { get; set; }

    /// <summary>Who redeemed it.</summary>
    [Id(2)]
    public string? RedeemedBy { get; set; }
}

/// <summary>State of <see cref="ScriptedParticipantGrain"/>.</summary>
[GenerateSerializer, Alias("granary.tx.scripted-state")]
public sealed class ScriptedState : ParticipantState
{
    /// <summary>Calls seen, in order.</summary>
    [Id(0)]
    public List<string> Calls { get; set; } = [];

    /// <summary>Actions still to fail.</summary>
    [Id(1)]
    public int ActionFailuresLeft { get; set; }

    /// <summary>Compensations still to fail.</summary>
    [Id(2)]
    public int CompensationFailuresLeft { get; set; }

    /// <summary>Refuse actions and prepares.</summary>
    [Id(3)]
    public bool Refuse { get; set; }
}
