using Microsoft.Extensions.Logging;

namespace Granary.Server.Memcached;

/// <summary>Structured log events of the Memcached endpoint.</summary>
internal static partial class MemcachedLog
{
    [LoggerMessage(EventId = 2201, Level = LogLevel.Information, Message = "Memcached endpoint listening on {EndPoint} (cache '{Cache}', item size up to {MaxItemSize} bytes)")]
    public static partial void Listening(ILogger logger, string endPoint, string cache, int maxItemSize);

    [LoggerMessage(EventId = 2202, Level = LogLevel.Error, Message = "Memcached endpoint cannot listen on {EndPoint}")]
    public static partial void ListenFailed(ILogger logger, Exception exception, string endPoint);

    [LoggerMessage(EventId = 2203, Level = LogLevel.Warning, Message = "Memcached endpoint: accepting a connection failed")]
    public static partial void AcceptFailed(ILogger logger, Exception exception);

    [LoggerMessage(EventId = 2204, Level = LogLevel.Information, Message = "Memcached client {ClientId} ({Remote}) closed after a protocol error: {Error}")]
    public static partial void ProtocolError(ILogger logger, long clientId, string remote, string error);

    [LoggerMessage(EventId = 2205, Level = LogLevel.Debug, Message = "Memcached client {ClientId} ({Remote}) closed after {IdleSeconds:F0} s idle")]
    public static partial void IdleClosed(ILogger logger, long clientId, string remote, double idleSeconds);

    [LoggerMessage(EventId = 2206, Level = LogLevel.Warning, Message = "Memcached client {ClientId} ({Remote}) failed")]
    public static partial void ConnectionFailed(ILogger logger, Exception exception, long clientId, string remote);

    [LoggerMessage(EventId = 2207, Level = LogLevel.Warning, Message = "Memcached endpoint: delayed flush_all failed")]
    public static partial void DelayedFlushFailed(ILogger logger, Exception exception);
}
