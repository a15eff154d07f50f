using Microsoft.Extensions.Logging;

namespace Granary.Hosting.Diagnostics;

/// <summary>Structured log events of the hosting layer.</summary>
internal static partial class HostingLog
{
    [LoggerMessage(EventId = 1001, Level = LogLevel.Information, Message = "Storage shard {Shard} (database {Database}) is ready: schema applied in {ElapsedMs:F0} ms")]
    public static partial void ShardSchemaApplied(ILogger logger, string shard, string database, double elapsedMs);

    [LoggerMessage(EventId = 1002, Level = LogLevel.Information, Message = "Granary silo active: clustering {Clustering}, storage {Storage} with {ShardCount} shard(s), membership profile {Profile}, silo port {SiloPort}, gateway port {GatewayPort}")]
    public static partial void SiloConfigured(ILogger logger, string clustering, string storage, int shardCount, string profile, int siloPort, int gatewayPort);
}
