using Microsoft.Extensions.Logging;

namespace Granary.Server.Diagnostics;

/// <summary>Structured log events of the hosting layer.</summary>
internal static partial class HostingLog
{
    [LoggerMessage(EventId = 1001, Level = LogLevel.Information, Message = "Storage shard {Shard} (database {Database}) is ready: schema applied in {ElapsedMs:F0} ms")]
    public static partial void ShardSchemaApplied(ILogger logger, string shard, string database, double elapsedMs);

    [LoggerMessage(EventId = 1002, Level = LogLevel.Information, Message = "Granary silo active: clustering {Clustering}, storage {Storage} with {ShardCount} shard(s), membership profile {Profile}, silo port {SiloPort}, gateway port {GatewayPort}")]
    public static partial void SiloConfigured(ILogger logger, string clustering, string storage, int shardCount, string profile, int siloPort, int gatewayPort);

    [LoggerMessage(EventId = 1003, Level = LogLevel.Information, Message = "Storage: {Operation} failed (attempt {Attempt}), retrying in {DelayMs:F0} ms: {Error}")]
    public static partial void StorageRetry(ILogger logger, string operation, int attempt, double delayMs, string error);

    [LoggerMessage(EventId = 1004, Level = LogLevel.Warning, Message = "Storage: {Operation} gave up after {Attempts} attempt(s) over {ElapsedMs:F0} ms; callers get UNAVAILABLE")]
    public static partial void StorageUnavailable(ILogger logger, Exception exception, string operation, int attempts, double elapsedMs);

    [LoggerMessage(EventId = 1005, Level = LogLevel.Warning, Message = "Unexpected error in {Grain}.{Method}; the caller gets INTERNAL")]
    public static partial void UnexpectedGrainError(ILogger logger, Exception exception, string grain, string method);

    [LoggerMessage(EventId = 1006, Level = LogLevel.Information, Message = "Decision sweep of {Shard}: {Found} record(s) older than {Cutoff:O}, {Deleted} deleted, {Kept} kept (a participant still open or not answering), {Unreadable} unreadable, in {ElapsedMs:F0} ms")]
    public static partial void DecisionSweep(ILogger logger, string shard, int found, DateTimeOffset cutoff, int deleted, int kept, int unreadable, double elapsedMs);

    [LoggerMessage(EventId = 1007, Level = LogLevel.Warning, Message = "Decision sweep: {Error}; trying again in {Interval}")]
    public static partial void DecisionSweepFailed(ILogger logger, string error, TimeSpan interval);
}
