using Microsoft.Extensions.Logging;

namespace Granary.Transactions;

/// <summary>Structured log events of the transaction family.</summary>
internal static partial class TransactionLog
{
    [LoggerMessage(EventId = 6001, Level = LogLevel.Warning, Message = "Transaction {TransactionId}: participant {Participant} refused {Decision}: {Error}")]
    public static partial void LogWarningDecisionRefused(ILogger logger, string transactionId, string participant, string decision, string error);

    [LoggerMessage(EventId = 6002, Level = LogLevel.Debug, Message = "Transaction {TransactionId}: {Decision} to {Participant} failed, will retry: {Error}")]
    public static partial void LogDebugPhaseTwoRetry(ILogger logger, string transactionId, string decision, string participant, string error);

    [LoggerMessage(EventId = 6003, Level = LogLevel.Information, Message = "Transaction {TransactionId}: resuming phase two ({Decision}) for {Pending} participant(s) after activation")]
    public static partial void LogInformationRecovering(ILogger logger, string transactionId, string decision, int pending);

    [LoggerMessage(EventId = 6004, Level = LogLevel.Information, Message = "Participant {Participant}: transaction {TransactionId} resolved by inquiry as {Answer}")]
    public static partial void LogInformationResolvedByInquiry(ILogger logger, string participant, string transactionId, string answer);

    [LoggerMessage(EventId = 6005, Level = LogLevel.Debug, Message = "Participant {Participant}: inquiry about {TransactionId} failed: {Error}")]
    public static partial void LogDebugInquiryFailed(ILogger logger, string participant, string transactionId, string error);

    [LoggerMessage(EventId = 6006, Level = LogLevel.Warning, Message = "Recovery bucket {Bucket}: could not reach coordinator of {TransactionId}: {Error}")]
    public static partial void LogWarningRecoveryFailed(ILogger logger, long bucket, string transactionId, string error);

    [LoggerMessage(EventId = 6007, Level = LogLevel.Warning, Message = "Transaction {TransactionId}: could not register with the recovery registry: {Error}")]
    public static partial void LogWarningRegistryFailed(ILogger logger, string transactionId, string error);

    [LoggerMessage(EventId = 6009, Level = LogLevel.Warning, Message = "Transaction {TransactionId}: compacting the finished record failed (the next activation will redo it): {Error}")]
    public static partial void LogWarningCompactFailed(ILogger logger, string transactionId, string error);

    [LoggerMessage(EventId = 6010, Level = LogLevel.Information, Message = "Participant {Participant}: 3PC transaction {TransactionId} timed out {State} and terminated alone: {Decision} ({Reached} peer(s) answered, {Unreachable} did not)")]
    public static partial void LogInformationTerminated(ILogger logger, string participant, string transactionId, string state, string decision, int reached, int unreachable);

    [LoggerMessage(EventId = 6011, Level = LogLevel.Warning, Message = "Transaction {TransactionId} (3PC): {Message}")]
    public static partial void LogWarningThreePhase(ILogger logger, string transactionId, string message);

    [LoggerMessage(EventId = 6012, Level = LogLevel.Warning, Message = "Participant {Participant}: state write failed, every caller waiting on it fails and the grain reloads from storage: {Error}")]
    public static partial void LogWarningParticipantWriteFailed(ILogger logger, string participant, string error);

    [LoggerMessage(EventId = 6013, Level = LogLevel.Debug, Message = "Decision sweep: asking participant {Participant} about {Count} transaction(s) failed, their records are kept: {Error}")]
    public static partial void LogDebugSweepAskFailed(ILogger logger, string participant, int count, string error);

    [LoggerMessage(EventId = 6008, Level = LogLevel.Warning, Message = "Saga {SagaId}: {Error}")]
    public static partial void LogWarningSaga(ILogger logger, string sagaId, string error);
}
