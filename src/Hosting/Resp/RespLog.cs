using Microsoft.Extensions.Logging;

namespace Granary.Server.Resp;

/// <summary>Structured log events of the RESP endpoint.</summary>
internal static partial class RespLog
{
    [LoggerMessage(EventId = 2101, Level = LogLevel.Information, Message = "RESP endpoint listening on {EndPoint} (database 0 = cache '{Cache}', password required: {PasswordRequired}); try: redis-cli -p {Port}")]
    public static partial void Listening(ILogger logger, string endPoint, string cache, bool passwordRequired, int port);

    [LoggerMessage(EventId = 2102, Level = LogLevel.Error, Message = "RESP endpoint cannot listen on {EndPoint}")]
    public static partial void ListenFailed(ILogger logger, Exception exception, string endPoint);

    [LoggerMessage(EventId = 2103, Level = LogLevel.Warning, Message = "RESP endpoint: accepting a connection failed")]
    public static partial void AcceptFailed(ILogger logger, Exception exception);

    [LoggerMessage(EventId = 2104, Level = LogLevel.Information, Message = "RESP client {ClientId} ({Remote}) closed after a protocol error: {Error}")]
    public static partial void ProtocolError(ILogger logger, long clientId, string remote, string error);

    [LoggerMessage(EventId = 2105, Level = LogLevel.Debug, Message = "RESP client {ClientId} ({Remote}) closed after {IdleSeconds:F0} s idle")]
    public static partial void IdleClosed(ILogger logger, long clientId, string remote, double idleSeconds);

    [LoggerMessage(EventId = 2106, Level = LogLevel.Warning, Message = "RESP client {ClientId} ({Remote}) failed")]
    public static partial void ConnectionFailed(ILogger logger, Exception exception, long clientId, string remote);
}
