using System.Text.Json;
using Granary.Client.Scheduling;
using Granary.Client.Transactions;
using Granary.Errors;
using Granary.Grocery;
using Granary.Locks;
using Granary.Scheduling;
using Granary.Transactions;
using Medallion.Threading;
using Microsoft.Extensions.Options;

namespace Granary.Grocery.Api;

/// <summary>
/// Places orders and reports their state. An order, under the lock of its item: one two-phase
/// commit takes the stock, debits the customer and credits the shop (all or nothing); then the
/// order is queued as a <c>fulfil-order</c> task for a worker process. The lock is not what keeps
/// stock from going negative (the inventory's reservations do that): it serves the orders of one
/// item first come, first served, so an order is refused only for stock that earlier orders really
/// took, never for a reservation of a concurrent order that then aborts.
/// </summary>
/// <remarks>
/// The transaction and the task share the order's id (<c>order-{id}</c>): retrying an order with the
/// same <see cref="OrderRequest.OrderId"/> after an error neither pays nor queues it twice.
/// </remarks>
public sealed class OrderDesk(
    IDistributedLockProvider locks,
    TransactionClient transactions,
    TaskClient tasks,
    IOptions<GroceryOptions> options,
    ILogger<OrderDesk> logger)
{
    /// <summary>Places <paramref name="order"/>: 202 when paid and queued, 409 when refused (nothing changed), 400/404 for a bad order.</summary>
    public async Task<IResult> PlaceAsync(OrderRequest order, CancellationToken cancellationToken)
    {
        ArgumentNullException.ThrowIfNull(order);
        var settings = options.Value;
        if (settings.Find(order.Item ?? "") is not { } item)
        {
            return Refused(StatusCodes.Status404NotFound, ErrorCodes.NotFound, $"no item '{order.Item}' in the catalogue");
        }

        if (order.Quantity is < 1 or > Limits.Transactions.MaxStock || order.Quantity > Limits.Transactions.MaxAmount / item.Price
            || string.IsNullOrWhiteSpace(order.Customer)
            || string.Equals(order.Customer, settings.ShopAccount, StringComparison.Ordinal))
        {
            return Refused(StatusCodes.Status400BadRequest, ErrorCodes.InvalidArgument, "an order needs a quantity of at least 1 (its total within the largest amount) and a customer other than the shop");
        }

        var orderId = order.OrderId ?? Guid.NewGuid().ToString("N");
        var id = TaskId(orderId);
        var total = item.Price * order.Quantity;
        var payment = new TxRequest(
        [
            new TxStep(ParticipantRef.Inventory(TransactionClient.StockKey(settings.Shop, item.Sku)), new TakeStock(item.Sku, order.Quantity)),
            new TxStep(ParticipantRef.Account(order.Customer), new Debit(total)),
            new TxStep(ParticipantRef.Account(settings.ShopAccount), new Credit(total)),
        ]);
        IDistributedSynchronizationHandle stockLock;
        try
        {
            stockLock = await locks.CreateLock(StockLockName(settings.Shop, item.Sku)).AcquireAsync(settings.LockWait, cancellationToken);
        }
        catch (TimeoutException)
        {
            return Refused(StatusCodes.Status503ServiceUnavailable, LockErrorCodes.Timeout, $"the lock of '{item.Sku}' was not granted within {settings.LockWait}; retry later");
        }

        try
        {
            await using (stockLock)
            {
                await transactions.RunAsync(id, payment);
            }
        }
        catch (InvalidRequestException ex)
        {
            return Refused(StatusCodes.Status400BadRequest, ex.Code, ex.Message);
        }
        catch (TransactionAbortedException ex)
        {
            GroceryApiLog.OrderRefused(logger, orderId, ex.Code, ex.Reason);
            return Refused(ex.Code == ErrorCodes.NotFound ? StatusCodes.Status404NotFound : StatusCodes.Status409Conflict, ex.Code, ex.Reason);
        }
        catch (TransactionConflictException ex)
        {
            return Refused(StatusCodes.Status409Conflict, ex.Code, $"order id '{orderId}' was already used for another order");
        }
        catch (Exception ex) when (ex is OrleansException or TimeoutException)
        {
            // The cluster did not answer: the payment may or may not have committed. Its id makes a retry safe.
            GroceryApiLog.PaymentUnknown(logger, orderId, ex);
            return Refused(StatusCodes.Status503ServiceUnavailable, ErrorCodes.Unavailable, $"the payment of order '{orderId}' did not complete ({ex.Message}); retry it with this orderId (it pays at most once)", orderId);
        }

        try
        {
            var fulfil = new FulfilOrderTask(orderId, item.Sku, order.Quantity, order.Customer, total);
            await tasks.SubmitWithIdAsync(id, new TaskSubmission(GroceryOptions.FulfilTaskType, JsonSerializer.Serialize(fulfil, GroceryJsonContext.Default.FulfilOrderTask)) { Queue = settings.Queue });
        }
        catch (Exception ex) when (ex is GranaryException or OrleansException or TimeoutException)
        {
            // Paid but not queued (no worker has declared the task type yet, the cluster is unreachable):
            // the same order id pays nothing more and queues the task when retried.
            GroceryApiLog.OrderNotQueued(logger, orderId, ex);
            return Refused(StatusCodes.Status503ServiceUnavailable, ex is GranaryException g ? g.Code : ErrorCodes.Unavailable, $"order '{orderId}' is paid but not queued yet ({ex.Message}); retry it with this orderId", orderId);
        }

        GroceryApiLog.OrderAccepted(logger, orderId, item.Sku, order.Quantity, order.Customer);
        var accepted = new OrderAccepted(orderId, item.Sku, order.Quantity, order.Customer, total, id);
        return TypedResults.Accepted($"/orders/{orderId}", accepted);
    }

    /// <summary>The order's fulfilment: its task's state and, once done, the worker's result; 404 for an unknown order.</summary>
    public async Task<IResult> StatusAsync(string orderId)
    {
        TaskInfo info;
        try
        {
            info = await tasks.GetAsync(TaskId(orderId));
        }
        catch (TaskNotFoundException)
        {
            return Refused(StatusCodes.Status404NotFound, ErrorCodes.NotFound, $"no order '{orderId}'");
        }
        catch (InvalidRequestException ex)
        {
            return Refused(StatusCodes.Status400BadRequest, ex.Code, ex.Message);
        }

        var fulfilment = info.State == TaskState.Succeeded && info.Result is { } result
            ? JsonSerializer.Deserialize(result, GroceryJsonContext.Default.Fulfilment)
            : null;
        return TypedResults.Ok(new OrderStatus(orderId, info.State.ToString(), fulfilment, info.Error));
    }

    /// <summary>The id of an order's payment transaction and of its fulfilment task.</summary>
    public static string TaskId(string orderId) => "order-" + orderId;

    /// <summary>The lock serving the orders of one item.</summary>
    public static string StockLockName(string shop, string sku) => $"grocery/{shop}/{sku}";

    private static IResult Refused(int status, string code, string reason, string? paidOrderId = null) =>
        TypedResults.Json(new OrderError(code, reason, paidOrderId), GroceryJsonContext.Default.OrderError, statusCode: status);
}
