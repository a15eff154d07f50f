using System.CommandLine;
using System.Globalization;
using Granary.Cli.Cli;
using Granary.Client.Scheduling;
using Granary.Scheduling;

namespace Granary.Cli.Commands;

/// <summary><c>granary task ...</c> and <c>granary worker ...</c>: the worker schedulers.</summary>
public static class TaskCommands
{
    /// <summary>Builds <c>granary task</c>.</summary>
    public static Command CreateTask()
    {
        var queue = new Option<string>("--queue") { Description = "Queue", DefaultValueFactory = _ => SchedulingDefaults.Queue, Recursive = true }.Named(Limits.Scheduling.MaxQueueNameLength);

        var type = new Argument<string>("type") { Description = "Task type (add, multiply, xsum, pick-order, assign-rider, sleep, flaky, chaos)" }.Named();
        var args = new Argument<string>("args") { Description = "Arguments as a JSON array, e.g. '[2, 3]'", DefaultValueFactory = _ => "[]" };
        var priority = new Option<int>("--priority") { Description = "0 (lowest) to 9" };
        var delay = new Option<string?>("--delay") { Description = "Run no earlier than this from now (500ms, 10s, 5m)" };
        var eta = new Option<string?>("--eta") { Description = "Run no earlier than this instant (ISO 8601)" };
        var timeLimit = new Option<string?>("--time-limit") { Description = "Hard time limit of one run (e.g. 30s)" };
        var maxRetries = new Option<int?>("--max-retries") { Description = "Retries after failures before dead-lettering" };
        var key = new Option<string?>("--key") { Description = "Affinity key (partition; worker under source-hash)" }.NamedIfGiven();
        var idempotencyKey = new Option<string?>("--idempotency-key") { Description = "A second submission with this key returns the first task" }.NamedIfGiven(Limits.Scheduling.MaxIdempotencyKeyLength);
        var wait = new Option<bool>("--wait") { Description = "Wait for the result" };
        var submit = new Command("submit", "Submit a task") { type, args, priority, delay, eta, timeLimit, maxRetries, key, idempotencyKey, wait };
        submit.SetTaskHandler(async (parse, output, ct) =>
        {
            var submission = new TaskSubmission(parse.GetValue(type)!, parse.GetValue(args) ?? "[]")
            {
                Queue = parse.GetValue(queue),
                Priority = parse.GetValue(priority),
                Delay = ParseDuration(parse.GetValue(delay), "--delay", allowNegative: true),
                Eta = ParseInstant(parse.GetValue(eta)),
                TimeLimit = ParseDuration(parse.GetValue(timeLimit), "--time-limit"),
                MaxRetries = parse.GetValue(maxRetries),
                Key = parse.GetValue(key),
                IdempotencyKey = parse.GetValue(idempotencyKey),
            };
            await using var connection = await GlobalOptions.ConnectAsync(parse, ct);
            var tasks = new TaskClient(connection.Grains);
            var info = await tasks.SubmitAsync(submission);
            var waiting = parse.GetValue(wait) || connection.Embedded;
            if (!info.IsTerminal && await TaskQueueCommands.WorkersServingAsync(tasks, info.Queue, ct) == 0)
            {
                // Accepted and stored, but nothing can run it yet: say so, and do not wait for a result that cannot come.
                Print(output, info);
                Output.Progress("granary: " + TaskQueueCommands.Unserved(info.Queue));
                return waiting ? ExitCodes.Failure : ExitCodes.Ok;
            }

            if (waiting)
            {
                info = await tasks.WaitAsync(info.Id, TimeSpan.FromMinutes(5), ct);
            }

            Print(output, info);
            return !waiting || info.State == TaskState.Succeeded ? ExitCodes.Ok : ExitCodes.Failure;
        });

        var id = new Argument<string>("id") { Description = "Task id" }.Named();
        var status = new Command("status", "A task's state and counters") { id };
        status.SetTaskHandler(async (parse, output, ct) =>
        {
            await using var connection = await GlobalOptions.ConnectAsync(parse, ct);
            var tasks = new TaskClient(connection.Grains);
            var info = await tasks.GetAsync(parse.GetValue(id)!);
            Print(output, info);
            if (TaskTransitions.IsWaiting(info.State) && (await tasks.GetQueueAsync(info.Queue)).Workers.Count == 0)
            {
                output.Line("  " + TaskQueueCommands.Unserved(info.Queue));
            }

            return ExitCodes.Ok;
        });

        var waitSeconds = new Option<int>("--wait") { Description = "Seconds to wait for a terminal state", DefaultValueFactory = _ => 0 };
        var result = new Command("result", "A task's result (exit 1 unless it succeeded)") { id, waitSeconds };
        result.SetTaskHandler(async (parse, output, ct) =>
        {
            await using var connection = await GlobalOptions.ConnectAsync(parse, ct);
            var tasks = new TaskClient(connection.Grains);
            var seconds = GlobalOptions.Require(parse.GetValue(waitSeconds), "--wait", 0, 3600);
            var info = await tasks.WaitAsync(parse.GetValue(id)!, TimeSpan.FromSeconds(seconds), ct);
            output.Document(new { info.Id, State = TaskTransitions.ToName(info.State), info.Result, info.Error });
            output.Line(info.State == TaskState.Succeeded ? info.Result ?? "null" : $"{TaskTransitions.ToName(info.State)}{(info.Error is null ? string.Empty : ": " + info.Error)}");
            return info.State == TaskState.Succeeded ? ExitCodes.Ok : ExitCodes.Failure;
        });

        var cancel = new Command("cancel", "Cancel a task (a running handler is told to stop)") { id };
        cancel.SetTaskHandler(async (parse, output, ct) =>
        {
            await using var connection = await GlobalOptions.ConnectAsync(parse, ct);
            Print(output, await new TaskClient(connection.Grains).CancelAsync(parse.GetValue(id)!));
            return ExitCodes.Ok;
        });

        var list = new Command("list", "Waiting and in-flight tasks per scheduler partition of a queue");
        list.SetTaskHandler(async (parse, output, ct) =>
        {
            await using var connection = await GlobalOptions.ConnectAsync(parse, ct);
            var snapshots = await new TaskClient(connection.Grains).QueueAsync(parse.GetValue(queue)!);
            output.Document(snapshots);
            output.Table(
                ["PARTITION", "BALANCER", "WAITING", "IN-FLIGHT", "SOME WAITING", "SOME IN FLIGHT"],
                snapshots.Select(s => (IReadOnlyList<string>)
                [
                    s.Partition, s.Balancer, s.Waiting.ToString(CultureInfo.InvariantCulture), s.InFlight.ToString(CultureInfo.InvariantCulture),
                    string.Join(" ", s.WaitingIds.Take(3)), string.Join(" ", s.InFlightIds.Take(3)),
                ]));
            return ExitCodes.Ok;
        });

        var retry = new Option<string?>("--retry") { Description = "Re-queue this dead-lettered task (same as 'dlq retry ID')" }.NamedIfGiven();
        var limit = new Option<int>("--limit") { Description = "Most entries shown", DefaultValueFactory = _ => 50 };
        async Task<int> ListDeadLetters(ParseResult parse, Output output, CancellationToken ct)
        {
            await using var connection = await GlobalOptions.ConnectAsync(parse, ct);
            var letters = await new TaskClient(connection.Grains).DeadLettersAsync(parse.GetValue(queue)!, GlobalOptions.Require(parse.GetValue(limit), "--limit", 1, Limits.Scheduling.MaxDeadLetters));
            output.Document(letters);
            output.Table(["TASK", "AT", "ERROR"], letters.Select(l => (IReadOnlyList<string>)[l.TaskId, l.At.ToString("O", CultureInfo.InvariantCulture), l.Error ?? string.Empty]));
            return ExitCodes.Ok;
        }

        async Task<int> RetryDeadLetter(ParseResult parse, Output output, string taskId, CancellationToken ct)
        {
            await using var connection = await GlobalOptions.ConnectAsync(parse, ct);
            Print(output, await new TaskClient(connection.Grains).RetryDeadLetterAsync(taskId, parse.GetValue(queue)!));
            return ExitCodes.Ok;
        }

        var dlqList = new Command("list", "Dead-lettered tasks of the queue, oldest first") { limit };
        dlqList.SetTaskHandler(ListDeadLetters);
        var dlqRetry = new Command("retry", "Put a dead-lettered task back in its queue with fresh retries") { id };
        dlqRetry.SetTaskHandler((parse, output, ct) => RetryDeadLetter(parse, output, parse.GetValue(id)!, ct));
        var dlq = new Command("dlq", "Dead-letter list of a queue (tasks that used up their retries): list, retry ID") { retry, limit, dlqList, dlqRetry };
        dlq.SetTaskHandler((parse, output, ct) => parse.GetValue(retry) is { } retryId ? RetryDeadLetter(parse, output, retryId, ct) : ListDeadLetters(parse, output, ct));

        var task = new Command("task", "Submit and inspect tasks, workflows and periodic tasks (worker schedulers)") { queue, submit, status, result, cancel, list, dlq, TaskQueueCommands.Create() };
        TaskWorkflowCommands.AddTo(task, queue);
        return task;
    }

    /// <summary>Builds <c>granary worker</c>.</summary>
    public static Command CreateWorker()
    {
        var queue = new Option<string>("--queue") { Description = "Queue", DefaultValueFactory = _ => SchedulingDefaults.Queue, Recursive = true }.Named(Limits.Scheduling.MaxQueueNameLength);
        var list = new Command("list", "Workers of a queue with capacity, weight and load");
        list.SetTaskHandler(async (parse, output, ct) =>
        {
            await using var connection = await GlobalOptions.ConnectAsync(parse, ct);
            var workers = await new TaskClient(connection.Grains).WorkersAsync(parse.GetValue(queue)!);
            output.Document(workers);
            if (workers.Count == 0)
            {
                output.Line(TaskQueueCommands.Unserved(parse.GetValue(queue)!));
                return ExitCodes.Ok;
            }

            output.Table(
                ["WORKER", "SILO", "CAPACITY", "WEIGHT", "IN-FLIGHT", "COMPLETED", "FAILED"],
                workers.Select(w => (IReadOnlyList<string>)
                [
                    w.Id, w.Silo, w.Capacity.ToString(CultureInfo.InvariantCulture), w.Weight.ToString(CultureInfo.InvariantCulture),
                    w.InFlight.ToString(CultureInfo.InvariantCulture), w.Completed.ToString(CultureInfo.InvariantCulture), w.Failed.ToString(CultureInfo.InvariantCulture),
                ]));
            return ExitCodes.Ok;
        });
        return new Command("worker", "Workers of the schedulers") { queue, list };
    }

    /// <summary>Parses <c>500ms</c>, <c>10s</c>, <c>5m</c>, <c>1h</c> or a TimeSpan (<c>00:00:10</c>).</summary>
    public static TimeSpan? ParseDuration(string? text, string option, bool allowNegative = false)
    {
        if (string.IsNullOrWhiteSpace(text))
        {
            return null;
        }

        var t = text.Trim();
        (string Suffix, double Ms)[] units = [("ms", 1), ("s", 1000), ("m", 60_000), ("h", 3_600_000)];
        foreach (var (suffix, ms) in units)
        {
            if (t.EndsWith(suffix, StringComparison.OrdinalIgnoreCase)
                && double.TryParse(t[..^suffix.Length], NumberStyles.Float, CultureInfo.InvariantCulture, out var n))
            {
                // Negative values are passed on so the scheduler rejects them with its typed error.
                return allowNegative || n >= 0 ? TimeSpan.FromMilliseconds(n * ms) : throw new UsageException($"{option} must not be negative");
            }
        }

        return TimeSpan.TryParse(t, CultureInfo.InvariantCulture, out var span)
            ? span
            : throw new UsageException($"{option} '{text}' is not a duration (try 500ms, 10s, 5m or 00:00:10)");
    }

    private static DateTimeOffset? ParseInstant(string? text) =>
        string.IsNullOrWhiteSpace(text) ? null
        : DateTimeOffset.TryParse(text, CultureInfo.InvariantCulture, DateTimeStyles.AssumeUniversal, out var at) ? at
        : throw new UsageException($"--eta '{text}' is not an ISO 8601 instant");

    private static void Print(Output output, TaskInfo info)
    {
        output.Document(new
        {
            info.Id,
            info.Type,
            info.Args,
            info.Queue,
            State = TaskTransitions.ToName(info.State),
            info.Priority,
            info.Attempts,
            info.Retries,
            info.MaxRetries,
            info.Redeliveries,
            info.CreatedAt,
            info.Eta,
            info.StartedAt,
            info.FinishedAt,
            info.Worker,
            info.Result,
            info.Error,
            info.WorkflowId,
            info.NextTaskId,
        });
        output.Line($"task {info.Id}: {info.Type}{info.Args} on {info.Queue} is {TaskTransitions.ToName(info.State)}");
        output.Line(string.Create(CultureInfo.InvariantCulture, $"  attempts {info.Attempts}, retries {info.Retries}/{info.MaxRetries}, re-dispatched {info.Redeliveries}, worker {info.Worker ?? "-"}"));
        if (info.Eta is { } eta)
        {
            output.Line($"  not before {eta:O}");
        }

        if (info.Result is not null)
        {
            output.Line("  result " + info.Result);
        }

        if (info.Error is not null)
        {
            output.Line("  error " + info.Error);
        }

        if (info.NextTaskId is not null)
        {
            output.Line("  next in chain " + info.NextTaskId);
        }
    }
}
