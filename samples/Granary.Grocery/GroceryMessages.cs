namespace Granary.Grocery;

/// <summary>One product of the catalogue: its SKU, display name and unit price in cents.</summary>
public sealed record CatalogueItem(string Sku, string Name, long Price);

/// <summary>The catalogue as the API serves it (cached through <c>IDistributedCache</c>).</summary>
public sealed record Catalogue(IReadOnlyList<CatalogueItem> Items, DateTimeOffset LoadedAt);

/// <summary>
/// <c>POST /orders</c>: <paramref name="Quantity"/> units of <paramref name="Item"/> (a SKU) for
/// <paramref name="Customer"/> (an account). <paramref name="OrderId"/> is optional: give one to
/// make a retry of the same order safe (the payment and the task are idempotent by it).
/// </summary>
public sealed record OrderRequest(string Item, int Quantity, string Customer, string? OrderId = null);

/// <summary>202 to <c>POST /orders</c>: the order is paid and queued for fulfilment.</summary>
public sealed record OrderAccepted(string OrderId, string Item, int Quantity, string Customer, long Total, string TransactionId);

/// <summary>
/// A refused request, with a stable code (<c>INSUFFICIENT</c>: not enough stock or money;
/// <c>NOT_FOUND</c>: no such item or account; <c>INVALID_ARGUMENT</c>; <c>CONFLICT</c>: the order
/// id was used for another order; <c>LOCK_TIMEOUT</c>) and a reason. A refused order changed nothing,
/// except when <paramref name="OrderId"/> is set (503): the order may be paid but is not queued yet,
/// and retrying it with that id pays at most once and queues it.
/// </summary>
public sealed record OrderError(string Code, string Reason, string? OrderId = null);

/// <summary>The arguments of a <c>fulfil-order</c> task.</summary>
public sealed record FulfilOrderTask(string OrderId, string Item, int Quantity, string Customer, long Total);

/// <summary>The result of a <c>fulfil-order</c> task: who packed the order, and when.</summary>
/// <param name="OrderId">The order.</param>
/// <param name="PackedBy">The worker's machine name.</param>
/// <param name="WorkerProcessId">The OS process id of the worker that ran the task.</param>
/// <param name="PackedAt">When the worker packed it.</param>
public sealed record Fulfilment(string OrderId, string PackedBy, int WorkerProcessId, DateTimeOffset PackedAt);

/// <summary><c>GET /orders/{id}</c>: the state of the order's fulfilment task and, once it ran, its result.</summary>
/// <param name="OrderId">The order.</param>
/// <param name="State">The fulfilment task's state (<c>Pending</c>, <c>Running</c>, <c>Succeeded</c>, <c>Failed</c>, ...).</param>
/// <param name="Fulfilment">The handler's result once the task succeeded.</param>
/// <param name="Error">Why the task failed, when it did.</param>
public sealed record OrderStatus(string OrderId, string State, Fulfilment? Fulfilment, string? Error);
