using System.CommandLine;
using System.Globalization;
using System.Text;
using Granary.Cli.Cli;
using Granary.Client.Queues;
using Granary.Queues;

namespace Granary.Cli.Commands;

/// <summary><c>granary queue ...</c>: work queues with visibility timeouts and dead letters.</summary>
public static class QueueCommands
{
    /// <summary>Builds the command tree.</summary>
    public static Command Create()
    {
        var root = new Command("queue", "Work queues: create, enqueue, dequeue, ack, nack, stats, dead letters");
        root.Subcommands.Add(CreateCreate());
        root.Subcommands.Add(CreateEnqueue());
        root.Subcommands.Add(CreateDequeue());
        root.Subcommands.Add(CreateAck());
        root.Subcommands.Add(CreateNack());
        root.Subcommands.Add(CreateExtend());
        root.Subcommands.Add(CreateStats());
        root.Subcommands.Add(CreateDlq());
        return root;
    }

    private static Argument<string> QueueArgument() => new Argument<string>("queue") { Description = "Queue name" }.Named();

    private static Argument<string> ReceiptArgument() => new("receipt") { Description = "Receipt printed by dequeue (partition.sequence.token)" };

    private static Option<double> Seconds(string name, string description, double fallback) =>
        new(name) { Description = description + " (seconds)", DefaultValueFactory = _ => fallback };

    private static TimeSpan RequireSeconds(double value, string option, double min, double max)
    {
        if (double.IsNaN(value) || value < min || value > max)
        {
            throw new UsageException(string.Create(CultureInfo.InvariantCulture, $"{option} must be between {min} and {max} seconds (got {value})"));
        }

        return TimeSpan.FromSeconds(value);
    }

    private static Command CreateCreate()
    {
        var queue = QueueArgument();
        var partitions = new Option<int>("--partitions") { Description = "Partitions (0 = the cluster default)" };
        var maxDeliveries = new Option<int>("--max-deliveries") { Description = "Deliveries before dead-lettering (0 = default)" };
        var dedup = Seconds("--dedup-window", "Idempotent-enqueue window, -1 = default", -1);
        var maxDepth = new Option<long>("--max-depth") { Description = "Most messages held, not acked or purged (0 = default; at most the cluster's ceiling)" };
        var command = new Command("create", "Create a queue (idempotent for the same definition)") { queue, partitions, maxDeliveries, dedup, maxDepth };
        command.SetHandler(async (parse, output, ct) =>
        {
            var p = GlobalOptions.Require(parse.GetValue(partitions), "--partitions", 0, Limits.Queues.MaxPartitions);
            var m = GlobalOptions.Require(parse.GetValue(maxDeliveries), "--max-deliveries", 0, Limits.Queues.MaxDeliveries);
            var d = parse.GetValue(dedup);
            TimeSpan? window = d < 0 ? null : RequireSeconds(d, "--dedup-window", 0, Limits.Queues.MaxDeduplicationWindow.TotalSeconds);
            var depth = parse.GetValue(maxDepth);
            if (depth is < 0 or > Limits.Queues.MaxDepth)
            {
                throw new UsageException(string.Create(CultureInfo.InvariantCulture, $"--max-depth must be between 0 and {Limits.Queues.MaxDepth} (got {depth})"));
            }

            await using var connection = await GlobalOptions.ConnectAsync(parse, ct);
            var info = await new QueueClient(connection.Grains).CreateAsync(parse.GetValue(queue)!, new QueueDefinition(p, m, window, depth));
            output.Document(info);
            output.Line(string.Create(CultureInfo.InvariantCulture, $"queue '{info.Name}': {info.Partitions} partitions, max deliveries {info.MaxDeliveries}, dedup window {info.DeduplicationWindow}, max depth {info.MaxDepth}"));
            return ExitCodes.Ok;
        });
        return command;
    }

    private static Command CreateEnqueue()
    {
        var queue = QueueArgument();
        var body = new Argument<string>("body") { Description = "Message body (UTF-8 text)" };
        var id = new Option<string?>("--id") { Description = "Message id (idempotency key); default: a new id" }.NamedIfGiven();
        var key = new Option<string?>("--key") { Description = "Ordering key: same key, same partition, delivered in order" }.NamedIfGiven();
        var delay = Seconds("--delay", "Invisible for this long", 0);
        var count = new Option<int>("--count") { Description = "Enqueue this many copies (ids get -1, -2, ... when --id is given)", DefaultValueFactory = _ => 1 };
        var command = new Command("enqueue", "Enqueue a message; returns once it is durable") { queue, body, id, key, delay, count };
        command.SetHandler(async (parse, output, ct) =>
        {
            var n = GlobalOptions.Require(parse.GetValue(count), "--count", 1, Limits.MaxBatchSize);
            var wait = RequireSeconds(parse.GetValue(delay), "--delay", 0, Limits.Queues.MaxDelay.TotalSeconds);
            var bytes = Encoding.UTF8.GetBytes(parse.GetValue(body) ?? "");
            var baseId = parse.GetValue(id);
            var messages = Enumerable.Range(1, n)
                .Select(i => new QueueMessageInput(bytes, baseId is null ? null : n == 1 ? baseId : string.Create(CultureInfo.InvariantCulture, $"{baseId}-{i}"), parse.GetValue(key), wait))
                .ToList();
            await using var connection = await GlobalOptions.ConnectAsync(parse, ct);
            var results = await new QueueClient(connection.Grains).EnqueueBatchAsync(parse.GetValue(queue)!, messages);
            output.Document(results);
            foreach (var r in results)
            {
                output.Line(string.Create(CultureInfo.InvariantCulture, $"{(r.Duplicate ? "duplicate" : "enqueued")} {r.Id} -> partition {r.Partition}, sequence {r.Sequence}"));
            }

            return ExitCodes.Ok;
        });
        return command;
    }

    private static Command CreateDequeue()
    {
        var queue = QueueArgument();
        var consumer = new Option<string>("--consumer") { Description = "Consumer id", DefaultValueFactory = _ => "cli-" + Environment.ProcessId.ToString(CultureInfo.InvariantCulture) }.Named();
        var max = new Option<int>("--max") { Description = "Most messages to lease", DefaultValueFactory = _ => 1 };
        var visibility = Seconds("--visibility", "Lease length", 30);
        var wait = Seconds("--wait", "Long-poll wait when nothing is ready", 0);
        var command = new Command("dequeue", "Lease messages (print their receipts)") { queue, consumer, max, visibility, wait };
        command.SetHandler(async (parse, output, ct) =>
        {
            var m = GlobalOptions.Require(parse.GetValue(max), "--max", 1, Limits.MaxBatchSize);
            var v = RequireSeconds(parse.GetValue(visibility), "--visibility", 0.001, Limits.Queues.MaxVisibilityTimeout.TotalSeconds);
            var w = RequireSeconds(parse.GetValue(wait), "--wait", 0, Limits.Queues.MaxWait.TotalSeconds);
            await using var connection = await GlobalOptions.ConnectAsync(parse, ct);
            var got = await new QueueClient(connection.Grains).DequeueAsync(parse.GetValue(queue)!, parse.GetValue(consumer)!, m, v, w);
            output.Document(got.Select(d => new { d.Receipt, d.Id, d.Key, Body = Encoding.UTF8.GetString(d.Body), d.Deliveries, d.Partition, d.LeaseExpiresAt }));
            output.Table(
                ["RECEIPT", "ID", "KEY", "DELIVERIES", "BODY"],
                got.Select(d => (IReadOnlyList<string>)[d.Receipt, d.Id, d.Key ?? "-", d.Deliveries.ToString(CultureInfo.InvariantCulture), Encoding.UTF8.GetString(d.Body)]));
            if (got.Count == 0)
            {
                output.Line("(no message)");
            }

            return ExitCodes.Ok;
        });
        return command;
    }

    private static Command CreateAck()
    {
        var queue = QueueArgument();
        var receipt = ReceiptArgument();
        var command = new Command("ack", "Acknowledge (delete) a leased message") { queue, receipt };
        command.SetHandler(async (parse, output, ct) =>
        {
            await using var connection = await GlobalOptions.ConnectAsync(parse, ct);
            await new QueueClient(connection.Grains).AckAsync(parse.GetValue(queue)!, parse.GetValue(receipt)!);
            output.Document(new { Acked = parse.GetValue(receipt) });
            output.Line("acked " + parse.GetValue(receipt));
            return ExitCodes.Ok;
        });
        return command;
    }

    private static Command CreateNack()
    {
        var queue = QueueArgument();
        var receipt = ReceiptArgument();
        var delay = Seconds("--delay", "Visible again after", 0);
        var dead = new Option<bool>("--dead-letter") { Description = "Send to the dead-letter list instead of requeueing" };
        var command = new Command("nack", "Return a leased message to the queue (after a delay) or dead-letter it") { queue, receipt, delay, dead };
        command.SetHandler(async (parse, output, ct) =>
        {
            var d = RequireSeconds(parse.GetValue(delay), "--delay", 0, Limits.Queues.MaxDelay.TotalSeconds);
            await using var connection = await GlobalOptions.ConnectAsync(parse, ct);
            await new QueueClient(connection.Grains).NackAsync(parse.GetValue(queue)!, parse.GetValue(receipt)!, d, parse.GetValue(dead));
            output.Document(new { Nacked = parse.GetValue(receipt), DeadLettered = parse.GetValue(dead) });
            output.Line((parse.GetValue(dead) ? "dead-lettered " : "requeued ") + parse.GetValue(receipt));
            return ExitCodes.Ok;
        });
        return command;
    }

    private static Command CreateExtend()
    {
        var queue = QueueArgument();
        var receipt = ReceiptArgument();
        var visibility = Seconds("--visibility", "New lease length from now", 30);
        var command = new Command("extend", "Extend a lease") { queue, receipt, visibility };
        command.SetHandler(async (parse, output, ct) =>
        {
            var v = RequireSeconds(parse.GetValue(visibility), "--visibility", 0.001, Limits.Queues.MaxVisibilityTimeout.TotalSeconds);
            await using var connection = await GlobalOptions.ConnectAsync(parse, ct);
            await new QueueClient(connection.Grains).ExtendAsync(parse.GetValue(queue)!, parse.GetValue(receipt)!, v);
            output.Document(new { Extended = parse.GetValue(receipt) });
            output.Line("extended " + parse.GetValue(receipt));
            return ExitCodes.Ok;
        });
        return command;
    }

    private static Command CreateStats()
    {
        var queue = QueueArgument();
        var command = new Command("stats", "Depth, in flight, delayed, dead letters and rates per partition") { queue };
        command.SetHandler(async (parse, output, ct) =>
        {
            await using var connection = await GlobalOptions.ConnectAsync(parse, ct);
            var stats = await new QueueClient(connection.Grains).StatsAsync(parse.GetValue(queue)!);
            output.Document(new { stats.Queue, stats.Depth, stats.Ready, stats.Delayed, stats.Stored, stats.InFlight, stats.DeadLettered, stats.EnqueuePerSecond, stats.AckPerSecond, stats.Partitions });
            PrintStats(output, stats);
            return ExitCodes.Ok;
        });
        return command;
    }

    /// <summary>Prints a stats table.</summary>
    public static void PrintStats(Output output, QueueStats stats)
    {
        ArgumentNullException.ThrowIfNull(output);
        ArgumentNullException.ThrowIfNull(stats);
        static string N(double v) => v.ToString("0.#", CultureInfo.InvariantCulture);
        output.Table(
            ["PARTITION", "READY", "DELAYED", "STORED", "BODIES", "MAX-DEPTH", "IN-FLIGHT", "DLQ", "ENQUEUED", "ACKED", "REDELIVERED", "ENQ/S", "ACK/S", "WRITES", "HOST"],
            stats.Partitions.Select(p => (IReadOnlyList<string>)[
                p.Partition.ToString(CultureInfo.InvariantCulture), N(p.Ready), N(p.Delayed), N(p.Stored), N(p.BodiesInMemory), N(p.MaxDepth), N(p.InFlight), N(p.DeadLettered),
                N(p.Enqueued), N(p.Acked), N(p.Redelivered), N(p.EnqueuePerSecond), N(p.AckPerSecond), N(p.StorageWrites), p.HostedBy]));
        output.Line(string.Create(CultureInfo.InvariantCulture, $"queue '{stats.Queue}': depth {stats.Depth} (ready {stats.Ready}, delayed {stats.Delayed}, in the store only {stats.Stored}, in flight {stats.InFlight}), dead letters {stats.DeadLettered}, {stats.EnqueuePerSecond:F1} enq/s, {stats.AckPerSecond:F1} ack/s"));
    }

    private static Command CreateDlq()
    {
        var dlq = new Command("dlq", "Dead-letter list: list, purge, redrive");
        var listQueue = QueueArgument();
        var limit = new Option<int>("--limit") { Description = "Most messages to show", DefaultValueFactory = _ => 20 };
        var list = new Command("list", "Show dead-lettered messages") { listQueue, limit };
        list.SetHandler(async (parse, output, ct) =>
        {
            var l = GlobalOptions.Require(parse.GetValue(limit), "--limit", 0, Limits.MaxBatchSize);
            await using var connection = await GlobalOptions.ConnectAsync(parse, ct);
            var dead = await new QueueClient(connection.Grains).Queue(parse.GetValue(listQueue)!).GetDeadLettersAsync(l);
            output.Document(dead.Select(d => new { d.Partition, d.Sequence, d.Id, d.Key, Body = Encoding.UTF8.GetString(d.Body), d.Deliveries, d.Reason }));
            output.Table(
                ["PARTITION", "SEQUENCE", "ID", "DELIVERIES", "REASON"],
                dead.Select(d => (IReadOnlyList<string>)[d.Partition.ToString(CultureInfo.InvariantCulture), d.Sequence.ToString(CultureInfo.InvariantCulture), d.Id, d.Deliveries.ToString(CultureInfo.InvariantCulture), d.Reason]));
            return ExitCodes.Ok;
        });

        var purgeQueue = QueueArgument();
        var purge = new Command("purge", "Delete every dead-lettered message") { purgeQueue };
        purge.SetHandler(async (parse, output, ct) =>
        {
            await using var connection = await GlobalOptions.ConnectAsync(parse, ct);
            var n = await new QueueClient(connection.Grains).Queue(parse.GetValue(purgeQueue)!).PurgeDeadLettersAsync();
            output.Document(new { Purged = n });
            output.Line(string.Create(CultureInfo.InvariantCulture, $"purged {n} dead letters"));
            return ExitCodes.Ok;
        });

        var redriveQueue = QueueArgument();
        var max = new Option<int>("--max") { Description = "Most messages to move back", DefaultValueFactory = _ => Limits.MaxBatchSize };
        var redrive = new Command("redrive", "Move dead-lettered messages back to the queue") { redriveQueue, max };
        redrive.SetHandler(async (parse, output, ct) =>
        {
            var m = GlobalOptions.Require(parse.GetValue(max), "--max", 0, int.MaxValue);
            await using var connection = await GlobalOptions.ConnectAsync(parse, ct);
            var n = await new QueueClient(connection.Grains).Queue(parse.GetValue(redriveQueue)!).RedriveAsync(m);
            output.Document(new { Redriven = n });
            output.Line(string.Create(CultureInfo.InvariantCulture, $"redrove {n} messages"));
            return ExitCodes.Ok;
        });

        dlq.Subcommands.Add(list);
        dlq.Subcommands.Add(purge);
        dlq.Subcommands.Add(redrive);
        return dlq;
    }
}
