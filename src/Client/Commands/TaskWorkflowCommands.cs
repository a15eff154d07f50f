using System.CommandLine;
using System.Globalization;
using Granary.Cli.Cli;
using Granary.Client.Scheduling;
using Granary.Scheduling;

namespace Granary.Cli.Commands;

/// <summary>
/// <c>granary task chain|group|chord|workflow</c> and <c>granary task periodic add|list|remove</c>.
/// A step is written <c>TYPE[ARGS]</c>, e.g. <c>add[2,2]</c> or <c>xsum</c> (no arguments).
/// </summary>
public static class TaskWorkflowCommands
{
    private static readonly TimeSpan WaitLimit = TimeSpan.FromMinutes(5);

    /// <summary>Adds the workflow and periodic subcommands to <c>granary task</c>.</summary>
    public static void AddTo(Command task, Option<string> queue)
    {
        ArgumentNullException.ThrowIfNull(task);
        var steps = new Argument<string[]>("steps") { Description = "Tasks as TYPE[ARGS], e.g. 'add[2,2]' 'multiply[8]'", Arity = ArgumentArity.OneOrMore };
        var maxRetries = new Option<int?>("--max-retries") { Description = "Retries of every task after failures" };
        var timeLimit = new Option<string?>("--time-limit") { Description = "Hard time limit of one run of every task (e.g. 30s)" };
        var wait = new Option<bool>("--wait") { Description = "Wait for the final result" };
        var id = new Option<string?>("--id") { Description = "Workflow id (retrying with the same id starts nothing twice)" }.NamedIfGiven(Limits.Scheduling.MaxWorkflowIdLength);

        TaskSubmission Step(ParseResult parse, string text) =>
            ParseStep(text) with
            {
                Queue = parse.GetValue(queue),
                MaxRetries = parse.GetValue(maxRetries),
                TimeLimit = TaskCommands.ParseDuration(parse.GetValue(timeLimit), "--time-limit"),
            };

        var chain = new Command("chain", "Run tasks one after another; each result is prepended to the next task's arguments") { steps, maxRetries, timeLimit, wait };
        chain.SetTaskHandler(async (parse, output, ct) =>
        {
            var submissions = parse.GetValue(steps)!.Select(s => Step(parse, s)).ToList();
            await using var connection = await GlobalOptions.ConnectAsync(parse, ct);
            var tasks = new TaskClient(connection.Grains);
            var first = await tasks.ChainAsync(submissions);
            if (await UnservedAsync(tasks, first.Queue, ct))
            {
                output.Document(new { FirstTaskId = first.Id, Steps = submissions.Count, State = TaskTransitions.ToName(first.State) });
                output.Line($"chain of {submissions.Count} submitted; first task {first.Id} waits");
                return parse.GetValue(wait) || connection.Embedded ? ExitCodes.Failure : ExitCodes.Ok;
            }

            if (!parse.GetValue(wait) && !connection.Embedded)
            {
                output.Document(new { FirstTaskId = first.Id, Steps = submissions.Count, State = TaskTransitions.ToName(first.State) });
                output.Line($"chain of {submissions.Count} submitted; first task {first.Id} ('granary task status {first.Id}' shows the next one)");
                return ExitCodes.Ok;
            }

            var last = await tasks.WaitForChainAsync(first.Id, WaitLimit, ct);
            output.Document(new { FirstTaskId = first.Id, Steps = submissions.Count, LastTaskId = last.Id, State = TaskTransitions.ToName(last.State), last.Result, last.Error });
            output.Line($"chain of {submissions.Count} from {first.Id}: last task {last.Id} {TaskTransitions.ToName(last.State)}"
                + (last.Result is null ? string.Empty : ", result " + last.Result) + (last.Error is null ? string.Empty : ": " + last.Error));
            return last.State == TaskState.Succeeded ? ExitCodes.Ok : ExitCodes.Failure;
        });

        var group = new Command("group", "Run tasks in parallel as one workflow") { steps, id, maxRetries, timeLimit, wait };
        group.SetTaskHandler(async (parse, output, ct) =>
        {
            var members = parse.GetValue(steps)!.Select(s => Step(parse, s)).ToList();
            await using var connection = await GlobalOptions.ConnectAsync(parse, ct);
            var tasks = new TaskClient(connection.Grains);
            var workflow = await tasks.GroupAsync(members, WorkflowId(parse.GetValue(id)));
            if (await UnservedAsync(tasks, members[0].Queue!, ct))
            {
                PrintWorkflow(output, workflow);
                return parse.GetValue(wait) || connection.Embedded ? ExitCodes.Failure : ExitCodes.Ok;
            }

            if (parse.GetValue(wait) || connection.Embedded)
            {
                await Task.WhenAll(workflow.MemberIds.Select(m => tasks.WaitAsync(m, WaitLimit, ct)));
                workflow = await tasks.GetWorkflowAsync(workflow.Id);
            }

            PrintWorkflow(output, workflow);
            return workflow.Failed == 0 ? ExitCodes.Ok : ExitCodes.Failure;
        });

        var callback = new Option<string>("--callback") { Description = "Task run once with all results as its first argument, e.g. 'xsum'", Required = true };
        var chord = new Command("chord", "A group, then a callback once with all the group's results") { steps, callback, id, maxRetries, timeLimit, wait };
        chord.SetTaskHandler(async (parse, output, ct) =>
        {
            var members = parse.GetValue(steps)!.Select(s => Step(parse, s)).ToList();
            var then = Step(parse, parse.GetValue(callback)!);
            await using var connection = await GlobalOptions.ConnectAsync(parse, ct);
            var tasks = new TaskClient(connection.Grains);
            var workflow = await tasks.ChordAsync(members, then, WorkflowId(parse.GetValue(id)));
            if (await UnservedAsync(tasks, members[0].Queue!, ct))
            {
                PrintWorkflow(output, workflow);
                return parse.GetValue(wait) || connection.Embedded ? ExitCodes.Failure : ExitCodes.Ok;
            }

            if (!parse.GetValue(wait) && !connection.Embedded)
            {
                PrintWorkflow(output, workflow);
                return ExitCodes.Ok;
            }

            await Task.WhenAll(workflow.MemberIds.Select(m => tasks.WaitAsync(m, WaitLimit, ct)));
            workflow = await tasks.GetWorkflowAsync(workflow.Id);
            TaskInfo? done = null;
            if (workflow.CallbackSubmitted)
            {
                done = await tasks.WaitAsync(workflow.CallbackTaskId!, WaitLimit, ct);
            }

            PrintWorkflow(output, workflow, done);
            return done?.State == TaskState.Succeeded ? ExitCodes.Ok : ExitCodes.Failure;
        });

        var workflowId = new Argument<string>("id") { Description = "Group or chord id" }.Named(Limits.Scheduling.MaxWorkflowIdLength);
        var show = new Command("workflow", "Progress of a group or chord") { workflowId };
        show.SetTaskHandler(async (parse, output, ct) =>
        {
            await using var connection = await GlobalOptions.ConnectAsync(parse, ct);
            var tasks = new TaskClient(connection.Grains);
            var workflow = await tasks.GetWorkflowAsync(parse.GetValue(workflowId)!);
            var done = workflow.CallbackSubmitted ? await tasks.GetAsync(workflow.CallbackTaskId!) : null;
            PrintWorkflow(output, workflow, done);
            return ExitCodes.Ok;
        });

        task.Subcommands.Add(chain);
        task.Subcommands.Add(group);
        task.Subcommands.Add(chord);
        task.Subcommands.Add(show);
        task.Subcommands.Add(CreatePeriodic(queue, maxRetries, timeLimit));
    }

    /// <summary>Parses <c>TYPE[ARGS]</c> (<c>add[2, 3]</c>) or a bare <c>TYPE</c> (no arguments).</summary>
    public static TaskSubmission ParseStep(string text)
    {
        var t = (text ?? string.Empty).Trim();
        var open = t.IndexOf('[', StringComparison.Ordinal);
        var type = (open < 0 ? t : t[..open]).Trim();
        if (type.Length == 0)
        {
            throw new UsageException($"'{text}' is not a task: write TYPE[ARGS], e.g. 'add[2,3]' or 'xsum'");
        }

        // Malformed arguments go to the scheduler, which rejects them with its typed error.
        return new TaskSubmission(type, open < 0 ? "[]" : t[open..]);
    }

    private static Command CreatePeriodic(Option<string> queue, Option<int?> maxRetries, Option<string?> timeLimit)
    {
        var name = new Argument<string>("name") { Description = "Periodic task name" }.Named(Limits.Scheduling.MaxPeriodicNameLength);
        var cron = new Argument<string>("cron") { Description = "Cron expression in UTC: 5 fields, or 6 with seconds first ('*/10 * * * * *')" };
        var step = new Argument<string>("task") { Description = "Task fired at each tick, as TYPE[ARGS], e.g. 'add[1,2]'" };
        var add = new Command("add", "Create or replace a periodic task (fires at most once per tick, across silo loss)") { name, cron, step, maxRetries, timeLimit };
        add.SetTaskHandler(async (parse, output, ct) =>
        {
            var template = ParseStep(parse.GetValue(step)!) with
            {
                Queue = parse.GetValue(queue),
                MaxRetries = parse.GetValue(maxRetries),
                TimeLimit = TaskCommands.ParseDuration(parse.GetValue(timeLimit), "--time-limit"),
            };
            await using var connection = await GlobalOptions.ConnectAsync(parse, ct);
            var tasks = new TaskClient(connection.Grains);
            var info = await tasks.ScheduleAsync(parse.GetValue(name)!, parse.GetValue(cron)!, template);
            PrintPeriodic(output, [info]);
            await UnservedAsync(tasks, template.Queue!, ct);
            return ExitCodes.Ok;
        });

        var list = new Command("list", "Periodic tasks with their schedule and last fired tick");
        list.SetTaskHandler(async (parse, output, ct) =>
        {
            await using var connection = await GlobalOptions.ConnectAsync(parse, ct);
            PrintPeriodic(output, await new TaskClient(connection.Grains).ListPeriodicAsync());
            return ExitCodes.Ok;
        });

        var remove = new Command("remove", "Stop a periodic task") { name };
        remove.SetTaskHandler(async (parse, output, ct) =>
        {
            await using var connection = await GlobalOptions.ConnectAsync(parse, ct);
            var tasks = new TaskClient(connection.Grains);
            await tasks.RemovePeriodicAsync(parse.GetValue(name)!);
            var info = await tasks.GetPeriodicAsync(parse.GetValue(name)!);
            output.Document(new { info.Name, info.Enabled, info.Fired });
            output.Line($"periodic task {info.Name} removed after {info.Fired} firings");
            return ExitCodes.Ok;
        });

        return new Command("periodic", "Periodic tasks driven by cron expressions") { add, list, remove };
    }

    /// <summary>True (and a note on stderr) when no worker serves <paramref name="queue"/> within the grace period: its tasks wait.</summary>
    private static async Task<bool> UnservedAsync(TaskClient tasks, string queue, CancellationToken ct)
    {
        if (await TaskQueueCommands.WorkersServingAsync(tasks, queue, ct) > 0)
        {
            return false;
        }

        Output.Progress("granary: " + TaskQueueCommands.Unserved(queue));
        return true;
    }

    private static string? WorkflowId(string? id) => id is null ? null : Granary.Errors.Guard.Name(id, "--id", 200);

    private static void PrintWorkflow(Output output, WorkflowInfo workflow, TaskInfo? callback = null)
    {
        var kind = workflow.Kind == WorkflowKind.Chord ? "chord" : "group";
        output.Document(new
        {
            workflow.Id,
            Kind = kind,
            workflow.MemberIds,
            workflow.Succeeded,
            workflow.Failed,
            workflow.Results,
            workflow.CallbackTaskId,
            workflow.CallbackSubmitted,
            CallbackState = callback is null ? null : TaskTransitions.ToName(callback.State),
            CallbackResult = callback?.Result,
        });
        output.Line(string.Create(CultureInfo.InvariantCulture, $"{kind} {workflow.Id}: {workflow.MemberIds.Count} tasks, {workflow.Succeeded} succeeded, {workflow.Failed} failed"));
        output.Line(string.Create(CultureInfo.InvariantCulture, $"  members {workflow.MemberIds[0]} .. {workflow.MemberIds[^1]}"));
        if (workflow.Results is not null)
        {
            output.Line("  results " + workflow.Results);
        }

        if (workflow.CallbackTaskId is { } cb)
        {
            output.Line($"  callback {cb}: " + (callback is null
                ? workflow.CallbackSubmitted ? "submitted" : "not yet submitted"
                : TaskTransitions.ToName(callback.State) + (callback.Result is null ? string.Empty : ", result " + callback.Result)));
        }
    }

    private static void PrintPeriodic(Output output, IReadOnlyList<PeriodicTaskInfo> periodics)
    {
        output.Document(periodics);
        output.Table(
            ["NAME", "CRON", "TASK", "ENABLED", "FIRED", "LAST TICK", "NEXT TICK"],
            periodics.Select(p => (IReadOnlyList<string>)
            [
                p.Name, p.Cron, p.Template.Type + p.Template.Args, p.Enabled ? "yes" : "no", p.Fired.ToString(CultureInfo.InvariantCulture),
                p.LastFiredTick?.ToString("O", CultureInfo.InvariantCulture) ?? "-",
                p.Enabled ? p.NextTick?.ToString("O", CultureInfo.InvariantCulture) ?? "-" : "-",
            ]));
    }
}
