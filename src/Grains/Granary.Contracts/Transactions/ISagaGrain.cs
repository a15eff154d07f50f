using Granary.Security;

namespace Granary.Transactions;

/// <summary>One step of a saga: an action on a participant; its compensation is the exact inverse.</summary>
[GenerateSerializer, Alias("granary.saga.step")]
public sealed record SagaStepDefinition(
    [property: Id(0)] string Name,
    [property: Id(1)] ParticipantRef Participant,
    [property: Id(2)] TxOperation Operation);

/// <summary>A saga: ordered steps.</summary>
[GenerateSerializer, Alias("granary.saga.definition")]
public sealed record SagaDefinition([property: Id(0)] IReadOnlyList<SagaStepDefinition> Steps)
{
    /// <summary>Stable digest of the content.</summary>
    public string Fingerprint() => string.Join("; ", Steps.Select(s => $"{s.Name}={s.Participant} {s.Operation.Describe()}"));
}

/// <summary>A saga as read.</summary>
[GenerateSerializer, Alias("granary.saga.view")]
public sealed record SagaView(
    [property: Id(0)] string SagaId,
    [property: Id(1)] string Status,
    [property: Id(2)] int Step,
    [property: Id(3)] int Attempt,
    [property: Id(4)] string? LastError,
    [property: Id(5)] int? FailedStep,
    [property: Id(6)] IReadOnlyList<string> Journal)
{
    /// <summary>The <see cref="Status"/> of a saga that was never started under this id.</summary>
    public const string UnknownStatus = "Unknown";
}

/// <summary>
/// Runs a saga: actions in order with retries (exponential backoff + jitter), compensation in
/// reverse when an action fails for good, progress persisted after every step, and a visible
/// <c>CompensationFailed</c> state that <see cref="RetryCompensationAsync"/> resumes.
/// </summary>
[Requires(Permission.TransactionUse)]
[Alias("granary.saga")]
public interface ISagaGrain : IGrainWithStringKey
{
    /// <summary>Starts (or, for the same definition, continues) the saga and returns when it stops.</summary>
    [Alias("run")]
    Task<SagaView> RunAsync(SagaDefinition definition);

    /// <summary>
    /// The saga. Answered even while the saga is running a step: its participants ask it whether it
    /// has finished (to forget its steps), and they must not wait behind a step that waits for them.
    /// </summary>
    [Alias("get")]
    [Orleans.Concurrency.AlwaysInterleave]
    Task<SagaView> GetAsync();

    /// <summary>Operator action for a saga in CompensationFailed: retry the compensations.</summary>
    [Alias("retry")]
    Task<SagaView> RetryCompensationAsync();
}
