using Microsoft.Extensions.Logging;

namespace Granary.Server.Security;

/// <summary>Transport (TLS) events, ids 9100-9149.</summary>
internal static partial class SecurityLog
{
    [LoggerMessage(EventId = 9100, Level = LogLevel.Warning, Message = "TLS handshake refused on the {Endpoint} port from {Remote}: {Reason}; {Unlogged} refusal(s) since the previous warning were not logged one by one (at most one warning per {IntervalSeconds:F0} s; counter granary.security.tls_handshake_failures has them all)")]
    public static partial void TlsHandshakeRefused(ILogger logger, string endpoint, string remote, string reason, int unlogged, double intervalSeconds);

    [LoggerMessage(EventId = 9101, Level = LogLevel.Information, Message = "TLS on: certificate {Subject} (thumbprint {Thumbprint}, expires {NotAfter:u}); silos trusted by {SiloTrust}; clients trusted by {ClientTrust}; protocols {Protocols}")]
    public static partial void TlsEnabled(ILogger logger, string subject, string thumbprint, DateTime notAfter, string siloTrust, string clientTrust, string protocols);
}
