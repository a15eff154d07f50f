using Microsoft.Extensions.Logging;

namespace Granary.Server.Security;

/// <summary>
/// Structured audit events of the security layer. Event ids: 9100-9149 transport (TLS),
/// 9150-9199 the wall between client and internal calls, 9200-9249 identities and permissions,
/// 9250-9299 servers and secrets.
/// </summary>
internal static partial class SecurityLog
{
    [LoggerMessage(EventId = 9150, Level = LogLevel.Warning, Message = "{Section}:ClusterSecret is not set: the silos use a development secret derived from the service and cluster ids, which anyone who knows them can reproduce. Set a secret before other machines can reach the silo and gateway ports")]
    public static partial void DevelopmentClusterSecret(ILogger logger, string section);

    [LoggerMessage(EventId = 9151, Level = LogLevel.Warning, Message = "Refused a client call to {Method} ({Reason}) from {Source} to {Target}; presented a wrong cluster proof: {ForgedProof}. Further refusals of this method for this reason are logged at Debug level")]
    public static partial void ClientCallRefused(ILogger logger, string method, string reason, string source, string target, bool forgedProof);

    [LoggerMessage(EventId = 9152, Level = LogLevel.Debug, Message = "Refused a client call to {Method} ({Reason}) from {Source} to {Target}; presented a wrong cluster proof: {ForgedProof}")]
    public static partial void ClientCallRefusedAgain(ILogger logger, string method, string reason, string source, string target, bool forgedProof);
}
