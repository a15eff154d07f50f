using System.Globalization;

namespace Granary.Transactions;

/// <summary>The kinds of grains that can take part in a transaction or a saga.</summary>
[GenerateSerializer, Alias("granary.tx.participant-kind")]
public enum ParticipantKind
{
    /// <summary><see cref="IAccountGrain"/>.</summary>
    Account = 1,

    /// <summary><see cref="IInventoryGrain"/>.</summary>
    Inventory = 2,

    /// <summary><see cref="ICouponGrain"/>.</summary>
    Coupon = 3,

    /// <summary><see cref="IScriptedParticipantGrain"/> (fault injection in demos and tests).</summary>
    Scripted = 4,
}

/// <summary>Which grain takes part.</summary>
[GenerateSerializer, Alias("granary.tx.participant-ref")]
public sealed record ParticipantRef([property: Id(0)] ParticipantKind Kind, [property: Id(1)] string Key)
{
    /// <summary>An account.</summary>
    public static ParticipantRef Account(string key) => new(ParticipantKind.Account, key);

    /// <summary>An inventory (one warehouse or shop).</summary>
    public static ParticipantRef Inventory(string key) => new(ParticipantKind.Inventory, key);

    /// <summary>A coupon.</summary>
    public static ParticipantRef Coupon(string key) => new(ParticipantKind.Coupon, key);

    /// <inheritdoc/>
    public override string ToString() => $"{Kind.ToString().ToLowerInvariant()}:{Key}";
}

/// <summary>What a participant is asked to do. Every operation has an exact inverse (used by saga compensations).</summary>
[GenerateSerializer, Alias("granary.tx.op")]
public abstract record TxOperation
{
    /// <summary>A stable text form; two requests with the same text are the same request.</summary>
    public abstract string Describe();
}

/// <summary>Take money from an account.</summary>
[GenerateSerializer, Alias("granary.tx.op.debit")]
public sealed record Debit([property: Id(0)] long Amount) : TxOperation
{
    /// <inheritdoc/>
    public override string Describe() => string.Create(CultureInfo.InvariantCulture, $"debit {Amount}");
}

/// <summary>Give money to an account.</summary>
[GenerateSerializer, Alias("granary.tx.op.credit")]
public sealed record Credit([property: Id(0)] long Amount) : TxOperation
{
    /// <inheritdoc/>
    public override string Describe() => string.Create(CultureInfo.InvariantCulture, $"credit {Amount}");
}

/// <summary>Take stock of one SKU (positive quantity) or put it back (negative, saga compensation).</summary>
[GenerateSerializer, Alias("granary.tx.op.stock")]
public sealed record TakeStock([property: Id(0)] string Sku, [property: Id(1)] int Quantity) : TxOperation
{
    /// <inheritdoc/>
    public override string Describe() => string.Create(CultureInfo.InvariantCulture, $"take {Quantity} {Sku}");
}

/// <summary>Redeem a single-use coupon for a customer.</summary>
[GenerateSerializer, Alias("granary.tx.op.redeem")]
public sealed record RedeemCoupon([property: Id(0)] string Customer) : TxOperation
{
    /// <inheritdoc/>
    public override string Describe() => $"redeem for {Customer}";
}

/// <summary>A scripted step (fault injection): does nothing but count, or fails as configured.</summary>
[GenerateSerializer, Alias("granary.tx.op.scripted")]
public sealed record ScriptedStep([property: Id(0)] string Label) : TxOperation
{
    /// <inheritdoc/>
    public override string Describe() => "scripted " + Label;
}

/// <summary>One participant and what it must do.</summary>
[GenerateSerializer, Alias("granary.tx.step")]
public sealed record TxStep([property: Id(0)] ParticipantRef Participant, [property: Id(1)] TxOperation Operation)
{
    /// <inheritdoc/>
    public override string ToString() => $"{Participant} {Operation.Describe()}";
}

/// <summary>A transaction: a participant appears at most once.</summary>
[GenerateSerializer, Alias("granary.tx.request")]
public sealed record TxRequest([property: Id(0)] IReadOnlyList<TxStep> Steps)
{
    /// <summary>Stable digest of the content: the same transaction id with another fingerprint is refused.</summary>
    public string Fingerprint() => string.Join("; ", Steps.Select(s => s.ToString()));
}

/// <summary>How a transaction ended.</summary>
[GenerateSerializer, Alias("granary.tx.outcome")]
public enum TxOutcome
{
    /// <summary>Applied at every participant (or durably decided and being applied).</summary>
    Committed = 1,

    /// <summary>Applied nowhere.</summary>
    Aborted = 2,
}

/// <summary>Which atomic commitment protocol runs a transaction.</summary>
[GenerateSerializer, Alias("granary.tx.protocol")]
public enum TxProtocol
{
    /// <summary>Two-phase commit with a durable decision and presumed abort (default): may wait for its coordinator, never splits.</summary>
    TwoPhase = 2,

    /// <summary>Three-phase commit: participants decide alone on timeouts; assumes bounded delays and no partitions.</summary>
    ThreePhase = 3,
}

/// <summary>What a three-phase commit participant is told at can-commit: who else takes part and how long to wait in each state.</summary>
[GenerateSerializer, Alias("granary.tx.3pc-terms")]
public sealed record ThreePhaseTerms(
    [property: Id(0)] IReadOnlyList<ParticipantRef> Participants,
    [property: Id(1)] TimeSpan Timeout);

/// <summary>Where a three-phase commit coordinator stops as if its silo died (fault injection for demonstrations and tests).</summary>
[GenerateSerializer, Alias("granary.tx.3pc-crash")]
public enum ThreePhaseCrashPoint
{
    /// <summary>No crash.</summary>
    None = 0,

    /// <summary>After every participant voted yes, before any pre-commit.</summary>
    AfterVotes = 1,

    /// <summary>After every participant acknowledged pre-commit, before any do-commit.</summary>
    AfterPreCommit = 2,
}

/// <summary>How a three-phase commit runs: the participants' timeout (null = the silo's <c>ThreePhaseTimeout</c>) and an optional injected crash.</summary>
[GenerateSerializer, Alias("granary.tx.3pc-run")]
public sealed record ThreePhaseRun(
    [property: Id(0)] TimeSpan? Timeout = null,
    [property: Id(1)] ThreePhaseCrashPoint CrashAfter = ThreePhaseCrashPoint.None);

/// <summary>What the coordinator answers.</summary>
[GenerateSerializer, Alias("granary.tx.result")]
public sealed record TransactionResult(
    [property: Id(0)] string TransactionId,
    [property: Id(1)] TxOutcome Outcome,
    [property: Id(2)] string? AbortCode,
    [property: Id(3)] string? AbortReason,
    [property: Id(4)] int Unacknowledged,
    [property: Id(5)] bool Replayed);

/// <summary>A participant's vote. <see cref="Known"/> is set when the participant already knew the transaction (a repeated vote): its status then.</summary>
[GenerateSerializer, Alias("granary.tx.vote")]
public sealed record PrepareResponse(
    [property: Id(0)] bool Yes,
    [property: Id(1)] string? Code,
    [property: Id(2)] string? Reason,
    [property: Id(3)] string? Known = null)
{
    /// <summary>Yes.</summary>
    public static PrepareResponse Granted { get; } = new(true, null, null);
}

/// <summary>The coordinator's answer to a participant's inquiry.</summary>
[GenerateSerializer, Alias("granary.tx.inquiry")]
public enum TxInquiryAnswer
{
    /// <summary>No record: presumed abort.</summary>
    Unknown = 0,

    /// <summary>Still preparing.</summary>
    Pending = 1,

    /// <summary>Decided commit.</summary>
    Committed = 2,

    /// <summary>Decided abort.</summary>
    Aborted = 3,
}

/// <summary>A transaction as a participant remembers it.</summary>
[GenerateSerializer, Alias("granary.tx.participant-view")]
public sealed record ParticipantTxView(
    [property: Id(0)] string TransactionId,
    [property: Id(1)] string Status,
    [property: Id(2)] DateTimeOffset Since,
    [property: Id(3)] string? Reservation);

/// <summary>A coordinator's record, as <c>granary tx status</c> shows it.</summary>
[GenerateSerializer, Alias("granary.tx.status")]
public sealed record TransactionStatusView(
    [property: Id(0)] string TransactionId,
    [property: Id(1)] string Phase,
    [property: Id(2)] string Decision,
    [property: Id(3)] IReadOnlyList<string> Participants,
    [property: Id(4)] IReadOnlyList<string> Unacknowledged,
    [property: Id(5)] string? AbortReason,
    [property: Id(6)] DateTimeOffset? DecidedAt,
    [property: Id(7)] int Recoveries);

/// <summary>Error codes of the transaction family (beside <see cref="Errors.ErrorCodes"/>).</summary>
public static class TransactionErrorCodes
{
    /// <summary>The transaction aborted.</summary>
    public const string Aborted = "TX_ABORTED";

    /// <summary>Not enough money, stock, or the coupon is used.</summary>
    public const string Insufficient = "INSUFFICIENT";

    /// <summary>A balance or stock level would overflow its limit.</summary>
    public const string Overflow = "OVERFLOW";

    /// <summary>A message that the protocol forbids (commit of an aborted or unknown transaction).</summary>
    public const string Protocol = "TX_PROTOCOL";

    /// <summary>A participant cannot be reached (a simulated network partition).</summary>
    public const string Unreachable = "UNREACHABLE";

    /// <summary>Operation not valid in the current state (e.g. retrying a saga that is not parked).</summary>
    public const string State = "TX_STATE";
}
