using Granary.Errors;
using Granary.Security;
using Orleans.Concurrency;

namespace Granary.Queues;

/// <summary>How an exchange picks queues for a routing key.</summary>
public enum ExchangeKind
{
    /// <summary>Queues whose binding key equals the routing key.</summary>
    Direct,

    /// <summary>Queues whose binding pattern matches (<c>*</c> one word, <c>#</c> zero or more).</summary>
    Topic,

    /// <summary>Every bound queue, whatever the routing key.</summary>
    Fanout,
}

/// <summary>A queue bound to an exchange with a key (direct) or pattern (topic); ignored by fanout.</summary>
[GenerateSerializer, Alias("granary.queues.binding")]
public sealed record ExchangeBinding(
    [property: Id(0)] string Queue,
    [property: Id(1)] string BindingKey);

/// <summary>An exchange and its bindings.</summary>
[GenerateSerializer, Alias("granary.queues.exchange-info")]
public sealed record ExchangeInfo(
    [property: Id(0)] string Name,
    [property: Id(1)] ExchangeKind Kind,
    [property: Id(2)] IReadOnlyList<ExchangeBinding> Bindings);

/// <summary>Publisher confirm: the message is durable in every queue listed; <see cref="Unroutable"/> when no binding matched.</summary>
[GenerateSerializer, Alias("granary.queues.publish-result")]
public sealed record PublishResult(
    [property: Id(0)] string MessageId,
    [property: Id(1)] IReadOnlyList<string> Queues,
    [property: Id(2)] IReadOnlyList<EnqueueResult> Enqueued,
    [property: Id(3)] bool Unroutable);

/// <summary>
/// A RabbitMQ-like exchange (key = exchange name): routes published messages to bound queues by
/// kind (direct, topic, fanout). A publish returns only when the message is durable in every
/// routed queue (publisher confirm); a message no binding matches is reported as unroutable.
/// </summary>
/// <example><code>
/// var orders = grains.GetGrain&lt;IExchangeGrain&gt;("orders");
/// await orders.DeclareAsync(ExchangeKind.Topic);
/// await orders.BindAsync("eu-orders", "order.*.eu");
/// var confirm = await orders.PublishAsync("order.created.eu", new QueueMessageInput(body));
/// </code></example>
[Requires(Permission.QueueAdmin)]
[Alias("granary.queues.exchange")]
public interface IExchangeGrain : IGrainWithStringKey
{
    /// <summary>Creates the exchange; declaring it again with the same kind is a no-op, another kind is refused.</summary>
    [Alias("declare")]
    Task<ExchangeInfo> DeclareAsync(ExchangeKind kind);

    /// <summary>The exchange, or <see cref="ExchangeNotFoundException"/>.</summary>
    [Requires(Permission.QueueProduce)]
    [Alias("info")]
    Task<ExchangeInfo> GetInfoAsync();

    /// <summary>Binds an existing queue (idempotent).</summary>
    [Alias("bind")]
    Task<ExchangeInfo> BindAsync(string queue, string bindingKey);

    /// <summary>Removes a binding (no-op when absent).</summary>
    [Alias("unbind")]
    Task<ExchangeInfo> UnbindAsync(string queue, string bindingKey);

    /// <summary>
    /// Routes and enqueues; returns once durable in every routed queue. All or nothing when a routed
    /// queue is full: room is reserved in every routed queue before the message is enqueued in any,
    /// and a <see cref="QueueFullException"/> names the queues that had none (nothing stored).
    /// </summary>
    [Requires(Permission.QueueProduce)]
    [Alias("publish"), AlwaysInterleave]
    Task<PublishResult> PublishAsync(string routingKey, QueueMessageInput message);
}

/// <summary>The exchange was never declared; nothing was changed.</summary>
[GenerateSerializer, Alias("granary.queues.error.exchange-not-found")]
public sealed class ExchangeNotFoundException : GranaryException
{
    /// <summary>Creates the error.</summary>
    public ExchangeNotFoundException(string exchange)
        : base(ErrorCodes.NotFound, $"exchange '{exchange}' does not exist")
    {
        Exchange = exchange;
    }

    /// <summary>Required by serializers.</summary>
    public ExchangeNotFoundException()
        : this("?")
    {
    }

    /// <summary>The exchange asked for.</summary>
    [Id(0)]
    public string Exchange { get; private set; }
}
