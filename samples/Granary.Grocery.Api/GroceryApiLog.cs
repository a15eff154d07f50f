namespace Granary.Grocery.Api;

/// <summary>The API's log events.</summary>
internal static partial class GroceryApiLog
{
    [LoggerMessage(EventId = 1, Level = LogLevel.Information, Message = "Order {OrderId} accepted: {Quantity} x {Sku} for {Customer}, paid and queued")]
    public static partial void OrderAccepted(ILogger logger, string orderId, string sku, int quantity, string customer);

    [LoggerMessage(EventId = 2, Level = LogLevel.Information, Message = "Order {OrderId} refused: {Code}: {Reason}")]
    public static partial void OrderRefused(ILogger logger, string orderId, string code, string reason);

    [LoggerMessage(EventId = 6, Level = LogLevel.Warning, Message = "Order {OrderId} is paid but could not be queued; a retry with its id queues it")]
    public static partial void OrderNotQueued(ILogger logger, string orderId, Exception exception);

    [LoggerMessage(EventId = 7, Level = LogLevel.Warning, Message = "The payment of order {OrderId} did not complete; a retry with its id pays at most once")]
    public static partial void PaymentUnknown(ILogger logger, string orderId, Exception exception);

    [LoggerMessage(EventId = 3, Level = LogLevel.Information, Message = "Catalogue of {Items} items loaded from the seed into the cache for {Ttl}")]
    public static partial void CatalogueLoaded(ILogger logger, int items, TimeSpan ttl);

    [LoggerMessage(EventId = 4, Level = LogLevel.Information, Message = "Stocked {Sku} with {Quantity}")]
    public static partial void Stocked(ILogger logger, string sku, int quantity);

    [LoggerMessage(EventId = 5, Level = LogLevel.Information, Message = "Account {Account} was already open: {Detail}")]
    public static partial void AlreadyOpen(ILogger logger, string account, string detail);
}
