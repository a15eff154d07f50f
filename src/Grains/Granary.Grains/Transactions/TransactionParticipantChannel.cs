using Granary.Errors;
using Microsoft.Extensions.Logging;

namespace Granary.Transactions;

/// <summary>
/// The participant grains as the coordinators reach them: one call per message, its error turned
/// into the protocol's terms (a no vote with its code, a refused or failed delivery) and logged.
/// Shared by <see cref="TwoPhaseCommitDriver"/> (through <see cref="ITwoPhaseCommitParticipants"/>)
/// and <see cref="ThreePhaseCommitCoordinatorGrain"/>.
/// </summary>
/// <param name="grains">Grain factory of the calling grain.</param>
/// <param name="steps">The request's steps (the operation each participant prepares); empty when only decisions are sent (recovery).</param>
/// <param name="logger">Logger of the calling grain.</param>
public sealed class TransactionParticipantChannel(IGrainFactory grains, IReadOnlyList<TxStep> steps, ILogger logger) : ITwoPhaseCommitParticipants
{
    private readonly Dictionary<string, TxStep> _steps = steps.ToDictionary(s => s.Participant.ToString(), StringComparer.Ordinal);

    /// <summary>Machine-readable abort code of a participant call that threw.</summary>
    public static string AbortCodeOf(Exception failure) => failure switch
    {
        TransactionConflictException => ErrorCodes.Conflict,
        InvalidRequestException => ErrorCodes.InvalidArgument,
        _ => TransactionErrorCodes.Aborted,
    };

    /// <inheritdoc/>
    public async Task<PrepareAnswer> PrepareAsync(string transactionId, string participant, DateTimeOffset deadline)
    {
        var step = _steps[participant];
        try
        {
            PrepareDeadline.Set(deadline);
            var vote = await Participants.Transactional(grains, step.Participant).PrepareAsync(transactionId, step.Operation);
            return new PrepareAnswer(vote.Yes, vote.Code, vote.Reason);
        }
        catch (Exception ex) when (ex is not OutOfMemoryException)
        {
            return new PrepareAnswer(false, AbortCodeOf(ex), $"{participant}: {ex.Message}", ex as InvalidRequestException);
        }
    }

    /// <inheritdoc/>
    public async Task<DecisionDelivery> DeliverAsync(string transactionId, string participant, TransactionDecision decision)
    {
        var commit = decision == TransactionDecision.Commit;
        var (acknowledged, refusal) = await SendAsync(
            Participants.Parse(participant),
            transactionId,
            commit ? "commit" : "abort",
            p => commit ? p.CommitAsync(transactionId) : p.AbortAsync(transactionId),
            Timeout.InfiniteTimeSpan,
            TimeProvider.System);
        if (refusal is not null)
        {
            // The participant will never accept this decision: retrying cannot help. Seen only if
            // a participant resolved on its own against the protocol; logged loudly.
            TransactionLog.LogWarningDecisionRefused(logger, transactionId, participant, commit ? "commit" : "abort", refusal);
            return DecisionDelivery.Refused;
        }

        return acknowledged ? DecisionDelivery.Acknowledged : DecisionDelivery.Failed;
    }

    /// <summary>
    /// Sends one protocol message to one participant within <paramref name="bound"/>: acknowledged, or
    /// refused by the protocol (the participant's reason), or failed (logged, the caller may retry).
    /// </summary>
    public async Task<(bool Acknowledged, string? Refusal)> SendAsync(ParticipantRef participant, string transactionId, string what, Func<ITransactionParticipant, Task> message, TimeSpan bound, TimeProvider time)
    {
        ArgumentNullException.ThrowIfNull(message);
        try
        {
            await message(Participants.Transactional(grains, participant)).WaitAsync(bound, time);
            return (true, null);
        }
        catch (TransactionProtocolException ex)
        {
            return (false, ex.Message);
        }
        catch (Exception ex) when (ex is not OutOfMemoryException)
        {
            TransactionLog.LogDebugPhaseTwoRetry(logger, transactionId, what, participant.ToString(), ex.Message);
            return (false, null);
        }
    }
}
