using Microsoft.Extensions.Logging;

namespace Granary.Locks;

/// <summary>Structured log events of the lock family.</summary>
internal static partial class LockLog
{
    [LoggerMessage(EventId = 3001, Level = LogLevel.Warning, Message = "Lock {Lock}: state write failed ({Error}); deactivating so a fresh activation reloads the durable state")]
    public static partial void WriteFailed(ILogger logger, string @lock, string error);

    [LoggerMessage(EventId = 3002, Level = LogLevel.Information, Message = "Lock {Lock} activated ({Durability}): last token {LastToken}, {Holders} holder(s), grants blocked until {BlockedUntil}")]
    public static partial void Activated(ILogger logger, string @lock, string durability, long lastToken, int holders, DateTimeOffset? blockedUntil);
}
