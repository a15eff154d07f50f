using System.CommandLine;
using System.Globalization;
using Granary.Cli.Cli;
using Granary.Client.Scheduling;
using Granary.Scheduling;

namespace Granary.Cli.Commands;

/// <summary>
/// <c>granary task queue declare|list|remove</c>: the registry of task queues. Tasks can only be
/// sent to a declared queue (declared here, or listed in <c>Granary:Scheduling:Queues</c>); a declared
/// queue no worker serves holds its tasks until one registers, and says so.
/// </summary>
public static class TaskQueueCommands
{
    /// <summary>How long a console command waits for a worker to register before it reports a queue unserved: longer than a worker's heartbeat expiry plus a keeper tick.</summary>
    public static readonly TimeSpan WorkerGrace = TimeSpan.FromSeconds(10);

    /// <summary>Builds <c>granary task queue</c>.</summary>
    public static Command Create()
    {
        var name = new Argument<string>("name") { Description = "Queue name (1 to 100 characters, no '/')" };
        var partitions = new Option<int?>("--partitions") { Description = $"Scheduler partitions (1 to {Limits.Scheduling.MaxPartitions}; partitions in use never shrink)" };
        var balancer = new Option<string?>("--balancer") { Description = "Balancer: round-robin, smooth-weighted, least-connections, weighted-least-connections, source-hash, p2c, ewma" };
        var declare = new Command("declare", "Declare a task queue (idempotent): tasks may be sent to it from now on") { name, partitions, balancer };
        declare.SetTaskHandler(async (parse, output, ct) =>
        {
            var count = parse.GetValue(partitions) is { } p ? GlobalOptions.Require(p, "--partitions", 1, Limits.Scheduling.MaxPartitions) : (int?)null;
            await using var connection = await GlobalOptions.ConnectAsync(parse, ct);
            var view = await new TaskClient(connection.Grains).DeclareQueueAsync(parse.GetValue(name)!, parse.GetValue(balancer), count);
            output.Document(Describe(view));
            output.Line(string.Create(CultureInfo.InvariantCulture, $"task queue {view.Name} declared: {view.Settings.Balancer}, {view.Settings.Partitions} partitions, {view.Workers.Count} worker(s)"));
            if (view.Workers.Count == 0)
            {
                output.Line(Unserved(view.Name));
            }

            return ExitCodes.Ok;
        });

        var list = new Command("list", "Declared task queues: origin, settings, live workers, waiting and running tasks");
        list.SetTaskHandler(async (parse, output, ct) =>
        {
            await using var connection = await GlobalOptions.ConnectAsync(parse, ct);
            var tasks = new TaskClient(connection.Grains);
            var views = await tasks.ListQueuesAsync();
            var counts = await Task.WhenAll(views.Select(async v =>
            {
                var snapshots = v.Declared ? await tasks.QueueAsync(v.Name) : [];
                return (Waiting: snapshots.Sum(s => s.Waiting), InFlight: snapshots.Sum(s => s.InFlight));
            }));
            output.Document(views.Select((v, i) => Describe(v) with { Waiting = counts[i].Waiting, InFlight = counts[i].InFlight }));
            output.Table(
                ["QUEUE", "DECLARED BY", "BALANCER", "PARTITIONS", "ACTIVE", "WORKERS", "WAITING", "IN-FLIGHT"],
                views.Select((v, i) => (IReadOnlyList<string>)
                [
                    v.Name, Origin(v), v.Settings.Balancer, Number(v.Settings.Partitions), Number(v.ActivePartitions.Count),
                    v.Workers.Count == 0 ? "none: tasks wait" : Number(v.Workers.Count), Number(counts[i].Waiting), Number(counts[i].InFlight),
                ]));
            return ExitCodes.Ok;
        });

        var remove = new Command("remove", "Remove a task queue declared at run time (refused while a worker serves it, tasks wait or run in it, or a periodic task submits to it)") { name };
        remove.SetTaskHandler(async (parse, output, ct) =>
        {
            await using var connection = await GlobalOptions.ConnectAsync(parse, ct);
            await new TaskClient(connection.Grains).RemoveQueueAsync(parse.GetValue(name)!);
            output.Document(new { Name = parse.GetValue(name), Removed = true });
            output.Line($"task queue {parse.GetValue(name)} removed");
            return ExitCodes.Ok;
        });

        return new Command("queue", "Task queues: declare, list, remove (tasks can only be sent to a declared queue)") { declare, list, remove };
    }

    /// <summary>
    /// <see cref="GlobalOptions.SetHandler"/> for the task and worker commands: a queue that is not
    /// declared is a bad <c>--queue</c> argument, so <see cref="TaskQueueNotFoundException"/> is
    /// printed as <c>granary: NOT_FOUND: ...</c> with exit code 2 (nothing was stored).
    /// </summary>
    public static void SetTaskHandler(this Command command, Func<ParseResult, Output, CancellationToken, Task<int>> action)
    {
        ArgumentNullException.ThrowIfNull(action);
        command.SetHandler(async (parse, output, ct) =>
        {
            try
            {
                return await action(parse, output, ct);
            }
            catch (TaskQueueNotFoundException ex)
            {
                throw new UsageException($"{ex.Code}: {ex.Message}");
            }
        });
    }

    /// <summary>
    /// Waits up to <see cref="WorkerGrace"/> for a worker of <paramref name="queue"/> (a silo that just
    /// started registers its workers within a keeper tick); returns how many serve it.
    /// </summary>
    public static async Task<int> WorkersServingAsync(TaskClient tasks, string queue, CancellationToken cancellationToken)
    {
        ArgumentNullException.ThrowIfNull(tasks);
        var until = DateTimeOffset.UtcNow + WorkerGrace;
        while (true)
        {
            var count = (await tasks.GetQueueAsync(queue)).Workers.Count;
            if (count > 0 || DateTimeOffset.UtcNow >= until)
            {
                return count;
            }

            await Task.Delay(500, cancellationToken); // poll; bounded by the grace period
        }
    }

    /// <summary>The line printed for a declared queue no worker serves.</summary>
    public static string Unserved(string queue) =>
        $"no worker serves task queue '{queue}': its tasks wait until one registers (add it to Granary:Scheduling:Queues of a silo, or start a worker for it)";

    private static QueueDocument Describe(QueueView view) =>
        new(view.Name, Origin(view), view.Settings.Balancer, view.Settings.Partitions, view.ActivePartitions, view.Workers.Select(w => w.Id).ToList(), 0, 0);

    private static string Origin(QueueView view) => view.Configured ? "configuration" : view.Declared ? "run time" : "(removed, holds tasks)";

    private static string Number(int value) => value.ToString(CultureInfo.InvariantCulture);

    private sealed record QueueDocument(string Name, string DeclaredBy, string Balancer, int Partitions, IReadOnlyList<int> ActivePartitions, IReadOnlyList<string> Workers, int Waiting, int InFlight);
}
