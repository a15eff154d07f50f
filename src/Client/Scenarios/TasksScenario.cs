using System.Diagnostics;
using System.Globalization;
using Granary.Client.Scenarios.Scheduling;
using Granary.Scheduling;
using Granary.Sdk.Scheduling;

namespace Granary.Client.Scenarios;

/// <summary>
/// Seed question 30 (distributed task scheduling, Celery): the Celery tour on Granary — add,
/// multiply, xsum, a chain, a chord, retries with backoff, the dead-letter list, an ETA task, a
/// time limit and a worker silo lost mid-run.
/// </summary>
public sealed class TasksScenario : IScenario
{
    private static readonly TimeSpan Wait = TimeSpan.FromSeconds(20);

    /// <inheritdoc/>
    public string Name => "tasks";

    /// <inheritdoc/>
    public string Title => "Celery-style tasks: add/multiply/xsum, chain, chord, retries, dead letters, ETA, time limit, worker silo lost mid-run";

    /// <inheritdoc/>
    public async Task<bool> RunAsync(ScenarioContext context, CancellationToken cancellationToken)
    {
        ArgumentNullException.ThrowIfNull(context);
        var tasks = new TaskClient(context.Grains);
        var ok = await WaitForWorkersAsync(tasks, context, cancellationToken);

        var add = await tasks.SubmitAsync(new TaskSubmission("add", "[2, 3]"));
        var multiply = await tasks.SubmitAsync(new TaskSubmission("multiply", "[6, 7]"));
        var xsum = await tasks.SubmitAsync(new TaskSubmission("xsum", "[[1, 2, 3, 4, 5]]"));
        var results = await Task.WhenAll(new[] { add, multiply, xsum }.Select(t => tasks.WaitAsync(t.Id, Wait, cancellationToken)));
        context.Fact("add", results[0].Result, $"add(2, 3) = {results[0].Result}; multiply(6, 7) = {results[1].Result}; xsum([1..5]) = {results[2].Result}  (run on {results[0].Worker})");
        ok &= results[0].Result == "5" && results[1].Result == "42" && results[2].Result == "15";

        var chain = await tasks.ChainAsync([new("add", "[2, 2]"), new("multiply", "[8]"), new("add", "[-2]")]);
        var chainEnd = await tasks.WaitForChainAsync(chain.Id, Wait, cancellationToken);
        context.Fact("chain", chainEnd.Result, $"chain(add(2, 2) | multiply(8) | add(-2)) = {chainEnd.Result}  (each result is the next task's first argument)");
        ok &= chainEnd.Result == "30";

        var chord = await tasks.ChordAsync([.. Enumerable.Range(1, 10).Select(i => new TaskSubmission("multiply", $"[{i}, {i}]"))], new TaskSubmission("xsum", "[]"));
        var callback = await WaitForAsync(tasks, chord.CallbackTaskId!, cancellationToken);
        context.Fact("chord", callback?.Result, $"chord(multiply(i, i) for i in 1..10)(xsum) = {callback?.Result}  (callback {callback?.Id}, submitted once under a fixed id)");
        ok &= callback?.Result == "385";

        var backoff = TimeSpan.FromMilliseconds(100);
        var flaky = await tasks.SubmitAsync(new TaskSubmission("flaky", "[3]") { MaxRetries = 5, BackoffBase = backoff, BackoffCap = TimeSpan.FromSeconds(1) });
        var doomed = await tasks.SubmitAsync(new TaskSubmission("flaky", "[99]") { MaxRetries = 2, BackoffBase = backoff, BackoffCap = backoff });
        var recovered = await tasks.WaitAsync(flaky.Id, Wait, cancellationToken);
        var dead = await tasks.WaitAsync(doomed.Id, Wait, cancellationToken);
        context.Fact("retried", recovered.Retries, $"flaky(3): failed twice, retried with exponential backoff + full jitter, {TaskTransitions.ToName(recovered.State)} on attempt {recovered.Result}");
        context.Fact("deadLettered", TaskTransitions.ToName(dead.State), $"flaky(99) with 2 retries: {TaskTransitions.ToName(dead.State)} after {dead.Attempts} attempts ({dead.Error})");
        ok &= recovered.State == TaskState.Succeeded && dead.State == TaskState.DeadLettered;
        await Until(async () => (await tasks.DeadLettersAsync()).Any(l => l.TaskId == dead.Id), cancellationToken);
        var requeued = await tasks.RetryDeadLetterAsync(dead.Id);
        context.Say($"retry from the dead-letter list: {dead.Id} is {TaskTransitions.ToName(requeued.State)} again with fresh retries");
        ok &= requeued.State == TaskState.Pending;
        await tasks.CancelAsync(dead.Id);

        var eta = DateTimeOffset.UtcNow.AddSeconds(1.5);
        var later = await tasks.SubmitAsync(new TaskSubmission("add", "[1, 1]") { Eta = eta });
        var limited = await tasks.SubmitAsync(new TaskSubmission("sleep", "[60000]") { TimeLimit = TimeSpan.FromMilliseconds(300), MaxRetries = 0 });
        var ran = await tasks.WaitAsync(later.Id, Wait, cancellationToken);
        var cut = await tasks.WaitAsync(limited.Id, Wait, cancellationToken);
        var early = ran.StartedAt < eta;
        context.Fact("etaEarly", early, $"ETA task: due {eta:HH:mm:ss.fff}, started {ran.StartedAt:HH:mm:ss.fff} ({(early ? "EARLY" : "not early")}), {ran.Attempts} run");
        context.Fact("timeLimit", TaskTransitions.ToName(cut.State), $"sleep(60 s) with a 300 ms time limit: {TaskTransitions.ToName(cut.State)} ({cut.Error})");
        ok &= !early && ran.Attempts == 1 && cut.State == TaskState.TimedOut;
        ok &= await WorkerSiloLossAsync(context, cancellationToken);
        return ok;
    }

    /// <summary>
    /// A worker silo dies mid-run. An in-process silo cannot be SIGKILLed, so this runs a private
    /// two-silo cluster in this process, with workers on both, and stops silo B with no grace period
    /// while its workers run tasks; the tasks' leases expire and they run again on silo A. (The
    /// cluster tests SIGKILL real silo processes.)
    /// </summary>
    private static async Task<bool> WorkerSiloLossAsync(ScenarioContext context, CancellationToken cancellationToken)
    {
        const int Count = 16;
        context.Say("worker silo lost mid-run: a private 2-silo cluster in this process (A and B, one worker of 8 slots each, a shared in-process store standing in for the database)");
        await using var cluster = await InProcessTaskCluster.StartAsync(
            new Dictionary<string, string?>
            {
                ["Granary:Scheduling:WorkersPerSilo"] = "1",
                ["Granary:Scheduling:WorkerCapacity"] = "8",
                ["Granary:Scheduling:LeaseTimeout"] = "00:00:02",
                ["Granary:Scheduling:HeartbeatInterval"] = "00:00:00.500",
                ["Granary:Scheduling:KeeperInterval"] = "00:00:01",
            },
            cancellationToken);
        var tasks = new TaskClient(cluster.Grains);
        var clock = Stopwatch.StartNew();
        await Until(async () => (await tasks.WorkersAsync()).Select(w => w.Silo).Distinct().Count() >= 2, cancellationToken);
        var submitted = await Task.WhenAll(Enumerable.Range(0, Count).Select(i => tasks.SubmitAsync(new TaskSubmission("sleep", "[800]") { Key = "k" + i.ToString(CultureInfo.InvariantCulture) })));
        var onB = 0;
        await Until(async () => (onB = (await tasks.WorkersAsync()).Where(w => w.Silo.Contains(cluster.WorkerSiloPort, StringComparison.Ordinal)).Sum(w => w.InFlight)) > 0, cancellationToken);
        await cluster.CrashWorkerSiloAsync();
        context.Say(string.Create(CultureInfo.InvariantCulture, $"{Count} sleep(800 ms) tasks submitted; silo B stopped abruptly at {clock.Elapsed.TotalSeconds:F1} s while its worker ran {onB} of them (no grace period: activations and running handlers dropped)"));
        var done = await Task.WhenAll(submitted.Select(t => tasks.WaitAsync(t.Id, Wait, cancellationToken)));
        var succeeded = done.Count(t => t.State == TaskState.Succeeded);
        var redispatched = done.Sum(t => t.Redeliveries);
        context.Fact("workerSiloLost", new { submitted = Count, succeeded, redispatched },
            string.Create(CultureInfo.InvariantCulture, $"after the loss: {succeeded} of {Count} succeeded, {redispatched} re-dispatched when their lease expired (late ack), {done.Sum(t => t.Attempts)} runs started, all done at {clock.Elapsed.TotalSeconds:F1} s"));
        return succeeded == Count && redispatched > 0 && done.All(t => t.Attempts == 1 + t.Redeliveries);
    }

    internal static async Task<bool> WaitForWorkersAsync(TaskClient tasks, ScenarioContext context, CancellationToken cancellationToken)
    {
        var clock = Stopwatch.StartNew();
        while (clock.Elapsed < TimeSpan.FromSeconds(15))
        {
            var workers = await tasks.WorkersAsync();
            if (workers.Count > 0)
            {
                context.Say(string.Create(CultureInfo.InvariantCulture, $"{workers.Count} workers on queue '{SchedulingDefaults.Queue}' ({string.Join(", ", workers.Select(w => $"{w.Id.Split('/')[^1]} x{w.Capacity}"))})"));
                return true;
            }

            await Task.Delay(100, cancellationToken);
        }

        context.Say("no workers registered within 15 s");
        return false;
    }

    private static async Task<TaskInfo?> WaitForAsync(TaskClient tasks, string id, CancellationToken cancellationToken)
    {
        TaskInfo? info = null;
        await Until(async () =>
        {
            try
            {
                info = await tasks.GetAsync(id);
                return info.IsTerminal;
            }
            catch (TaskNotFoundException)
            {
                return false;
            }
        }, cancellationToken);
        return info;
    }

    private static async Task Until(Func<Task<bool>> condition, CancellationToken cancellationToken)
    {
        var clock = Stopwatch.StartNew();
        while (!await condition() && clock.Elapsed < Wait)
        {
            await Task.Delay(50, cancellationToken);
        }
    }
}
