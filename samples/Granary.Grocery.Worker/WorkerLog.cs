using Microsoft.Extensions.Logging;

namespace Granary.Grocery.Worker;

/// <summary>The worker's log events.</summary>
internal static partial class WorkerLog
{
    [LoggerMessage(EventId = 1, Level = LogLevel.Information, Message = "Packed order {OrderId}: {Quantity} x {Sku} for {Customer}")]
    public static partial void Packed(ILogger logger, string orderId, int quantity, string sku, string customer);
}
