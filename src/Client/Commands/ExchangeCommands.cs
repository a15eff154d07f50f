using System.CommandLine;
using System.Text;
using Granary.Cli.Cli;
using Granary.Queues;

namespace Granary.Cli.Commands;

/// <summary><c>granary exchange ...</c>: the broker layer over work queues.</summary>
public static class ExchangeCommands
{
    /// <summary>Builds the command tree.</summary>
    public static Command Create()
    {
        var root = new Command("exchange", "Exchanges (direct, topic, fanout): declare, bind, unbind, publish, show");

        var declareName = new Argument<string>("exchange") { Description = "Exchange name" }.Named();
        var kind = new Option<string>("--type") { Description = "direct, topic or fanout", DefaultValueFactory = _ => "direct" };
        var declare = new Command("declare", "Create an exchange") { declareName, kind };
        declare.SetHandler(async (parse, output, ct) =>
        {
            var k = (parse.GetValue(kind) ?? "").ToLowerInvariant() switch
            {
                "direct" => ExchangeKind.Direct,
                "topic" => ExchangeKind.Topic,
                "fanout" => ExchangeKind.Fanout,
                var other => throw new UsageException($"--type must be direct, topic or fanout (got '{other}')"),
            };
            await using var connection = await GlobalOptions.ConnectAsync(parse, ct);
            var info = await connection.Grains.GetGrain<IExchangeGrain>(parse.GetValue(declareName)!).DeclareAsync(k);
            output.Document(info);
            output.Line($"exchange '{info.Name}' ({info.Kind}), {info.Bindings.Count} bindings");
            return ExitCodes.Ok;
        });

        var bindName = new Argument<string>("exchange") { Description = "Exchange name" }.Named();
        var bindQueue = new Argument<string>("queue") { Description = "Existing queue" }.Named();
        var bindKey = new Option<string>("--key") { Description = "Binding key (direct) or pattern with * and # (topic); ignored by fanout", DefaultValueFactory = _ => "" };
        var unbind = new Option<bool>("--remove") { Description = "Remove the binding instead" };
        var bind = new Command("bind", "Bind a queue to an exchange") { bindName, bindQueue, bindKey, unbind };
        bind.SetHandler(async (parse, output, ct) =>
        {
            await using var connection = await GlobalOptions.ConnectAsync(parse, ct);
            var exchange = connection.Grains.GetGrain<IExchangeGrain>(parse.GetValue(bindName)!);
            var info = parse.GetValue(unbind)
                ? await exchange.UnbindAsync(parse.GetValue(bindQueue)!, parse.GetValue(bindKey) ?? "")
                : await exchange.BindAsync(parse.GetValue(bindQueue)!, parse.GetValue(bindKey) ?? "");
            output.Document(info);
            output.Table(["QUEUE", "KEY"], info.Bindings.Select(b => (IReadOnlyList<string>)[b.Queue, b.BindingKey]));
            return ExitCodes.Ok;
        });

        var publishName = new Argument<string>("exchange") { Description = "Exchange name" }.Named();
        var routingKey = new Argument<string>("routing-key") { Description = "Routing key" };
        var body = new Argument<string>("body") { Description = "Message body (UTF-8 text)" };
        var id = new Option<string?>("--id") { Description = "Message id (deduplicated per queue)" }.NamedIfGiven();
        var publish = new Command("publish", "Publish; returns once the message is durable in every routed queue") { publishName, routingKey, body, id };
        publish.SetHandler(async (parse, output, ct) =>
        {
            await using var connection = await GlobalOptions.ConnectAsync(parse, ct);
            var result = await connection.Grains.GetGrain<IExchangeGrain>(parse.GetValue(publishName)!)
                .PublishAsync(parse.GetValue(routingKey)!, new QueueMessageInput(Encoding.UTF8.GetBytes(parse.GetValue(body) ?? ""), parse.GetValue(id)));
            output.Document(result);
            output.Line(result.Unroutable ? $"unroutable: no binding matches '{parse.GetValue(routingKey)}'" : $"confirmed {result.MessageId} in {string.Join(", ", result.Queues)}");
            return result.Unroutable ? ExitCodes.Failure : ExitCodes.Ok;
        });

        root.Subcommands.Add(declare);
        root.Subcommands.Add(bind);
        root.Subcommands.Add(publish);
        return root;
    }
}
