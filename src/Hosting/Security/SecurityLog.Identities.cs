using Microsoft.Extensions.Logging;

namespace Granary.Server.Security;

/// <summary>Audit events of identities and permissions (event ids 9200-9249).</summary>
internal static partial class SecurityLog
{
    [LoggerMessage(EventId = 9200, Level = LogLevel.Information, Message = "Client authorization is on: {Count} identities ({Names})")]
    public static partial void LogInformationIdentitiesLoaded(ILogger logger, int count, string names);

    [LoggerMessage(EventId = 9201, Level = LogLevel.Warning, Message = "Client authorization is off: no identity is configured (Granary:Security:Identities), so every client that reaches a gateway may call every public method")]
    public static partial void LogWarningAuthorizationOff(ILogger logger);

    [LoggerMessage(EventId = 9202, Level = LogLevel.Information, Message = "Admin command by {Identity}: {Method} ({Permission})")]
    public static partial void LogInformationAdminCommand(ILogger logger, string identity, string method, string permission);

    [LoggerMessage(EventId = 9203, Level = LogLevel.Warning, Message = "Call refused ({Code}): {Identity} called {Method}, which needs {Permission}: {Reason} ({Suppressed} more such refusals not logged since the last line)")]
    public static partial void LogWarningCallDenied(ILogger logger, string code, string identity, string method, string permission, string reason, long suppressed);
}
