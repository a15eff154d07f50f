using System.Globalization;
using System.Text;
using Granary.Client.Queues;
using Granary.Queues;

namespace Granary.Cli.Scenarios;

/// <summary>
/// Seed question 26 (message queue, RabbitMQ-style routing): a topic exchange with <c>*</c> and
/// <c>#</c> bindings, a fanout and a direct exchange route to durable queues; every publish is
/// confirmed only once durable in each routed queue; an unroutable message is reported.
/// </summary>
public sealed class BrokerRoutingScenario : IScenario
{
    /// <inheritdoc/>
    public string Name => "broker-routing";

    /// <inheritdoc/>
    public string Title => "Exchanges (topic with * and #, fanout, direct), publisher confirms, unroutable messages";

    /// <inheritdoc/>
    public async Task<bool> RunAsync(ScenarioContext context, CancellationToken cancellationToken)
    {
        ArgumentNullException.ThrowIfNull(context);
        var stamp = DateTime.UtcNow.Ticks.ToString(CultureInfo.InvariantCulture);
        var client = new QueueClient(context.Grains);
        string Q(string name) => $"{name}-{stamp}";
        foreach (var queue in new[] { "eu-orders", "all-orders", "created", "billing", "notify-a", "notify-b" })
        {
            await client.CreateAsync(Q(queue), new QueueDefinition(Partitions: 2));
        }

        var topic = context.Grains.GetGrain<IExchangeGrain>("orders-" + stamp);
        await topic.DeclareAsync(ExchangeKind.Topic);
        await topic.BindAsync(Q("eu-orders"), "order.*.eu");
        await topic.BindAsync(Q("all-orders"), "order.#");
        await topic.BindAsync(Q("created"), "*.created.*");
        var fanout = context.Grains.GetGrain<IExchangeGrain>("notify-" + stamp);
        await fanout.DeclareAsync(ExchangeKind.Fanout);
        await fanout.BindAsync(Q("notify-a"), "");
        await fanout.BindAsync(Q("notify-b"), "");
        var direct = context.Grains.GetGrain<IExchangeGrain>("billing-" + stamp);
        await direct.DeclareAsync(ExchangeKind.Direct);
        await direct.BindAsync(Q("billing"), "invoice");
        context.Say("topic 'orders': eu-orders <- order.*.eu, all-orders <- order.#, created <- *.created.*; fanout 'notify' -> notify-a, notify-b; direct 'billing': billing <- invoice");

        async Task PublishAsync(IExchangeGrain exchange, string name, string key, string[] expected)
        {
            var result = await exchange.PublishAsync(key, new QueueMessageInput(Encoding.UTF8.GetBytes(key)));
            var got = result.Queues.Select(q => q[..^(stamp.Length + 1)]).Order(StringComparer.Ordinal).ToArray();
            var right = got.SequenceEqual(expected.Order(StringComparer.Ordinal)) && result.Unroutable == (expected.Length == 0);
            context.Check(right, $"publish {name} '{key}' -> {(result.Unroutable ? "UNROUTABLE (reported to the publisher)" : "confirmed in " + string.Join(", ", got))}{(right ? "" : "  WRONG, expected " + string.Join(", ", expected))}");
        }

        await PublishAsync(topic, "orders", "order.created.eu", ["eu-orders", "all-orders", "created"]);
        await PublishAsync(topic, "orders", "order.shipped.us", ["all-orders"]);
        await PublishAsync(topic, "orders", "order", ["all-orders"]);
        await PublishAsync(topic, "orders", "refund.created.eu", ["created"]);
        await PublishAsync(topic, "orders", "stock.low", []);
        await PublishAsync(fanout, "notify", "anything", ["notify-a", "notify-b"]);
        await PublishAsync(direct, "billing", "invoice", ["billing"]);
        await PublishAsync(direct, "billing", "receipt", []);

        var depth = await client.StatsAsync(Q("all-orders"));
        context.Check("allOrdersDepth", depth.Depth, depth.Depth == 3, $"all-orders now holds {depth.Depth} messages (order.# matched 3 publishes)");
        var first = await client.DequeueAsync(Q("eu-orders"), "eu-worker", 10, TimeSpan.FromSeconds(30), TimeSpan.FromSeconds(1));
        var bodies = first.Select(m => Encoding.UTF8.GetString(m.Body)).ToList();
        context.Check(bodies.SequenceEqual(["order.created.eu"]), "eu-orders worker got: " + string.Join(", ", bodies));
        context.Facts["routingCorrect"] = context.AllHeld;
        return context.AllHeld;
    }
}
