using System.Diagnostics;
using System.Globalization;
using Granary.Cli.Scenarios.Scheduling;
using Granary.Client.Scheduling;
using Granary.Scheduling;

namespace Granary.Cli.Scenarios;

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
        await WaitForWorkersAsync(tasks, context, cancellationToken);

        var add = await tasks.SubmitAsync(new TaskSubmission("add", "[2, 3]"));
        var multiply = await tasks.SubmitAsync(new TaskSubmission("multiply", "[6, 7]"));
        var xsum = await tasks.SubmitAsync(new TaskSubmission("xsum", "[[1, 2, 3, 4, 5]]"));
        var results = await Task.WhenAll(new[] { add, multiply, xsum }.Select(t => tasks.WaitAsync(t.Id, Wait, cancellationToken)));
        context.Check("add", results[0].Result, results[0].Result == "5" && results[1].Result == "42" && results[2].Result == "15",
            $"add(2, 3) = {results[0].Result}; multiply(6, 7) = {results[1].Result}; xsum([1..5]) = {results[2].Result}  (add ran on {results[0].Worker})");

        var chain = await tasks.ChainAsync([new("add", "[2, 2]"), new("multiply", "[8]"), new("add", "[-2]")]);
        var chainEnd = await tasks.WaitForChainAsync(chain.Id, Wait, cancellationToken);
        context.Check("chain", chainEnd.Result, chainEnd.Result == "30", $"chain(add(2, 2) | multiply(8) | add(-2)) = {chainEnd.Result}  (each result is the next task's first argument)");

        var chord = await tasks.ChordAsync([.. Enumerable.Range(1, 10).Select(i => new TaskSubmission("multiply", $"[{i}, {i}]"))], new TaskSubmission("xsum", "[]"));
        var callback = await WaitForTerminalAsync(tasks, chord.CallbackTaskId!, "the chord's callback task", cancellationToken);
        context.Check("chord", callback.Result, callback.Result == "385", $"chord(multiply(i, i) for i in 1..10)(xsum) = {callback.Result}  (callback {callback.Id}: its id is fixed by the chord, so it exists once)");

        var backoff = TimeSpan.FromMilliseconds(100);
        var flaky = await tasks.SubmitAsync(new TaskSubmission("flaky", "[3]") { MaxRetries = 5, BackoffBase = backoff, BackoffCap = TimeSpan.FromSeconds(1) });
        var doomed = await tasks.SubmitAsync(new TaskSubmission("flaky", "[99]") { MaxRetries = 2, BackoffBase = backoff, BackoffCap = backoff });
        var recovered = await tasks.WaitAsync(flaky.Id, Wait, cancellationToken);
        var dead = await tasks.WaitAsync(doomed.Id, Wait, cancellationToken);
        context.Check("retried", recovered.Retries, recovered.State == TaskState.Succeeded && recovered.Retries == 2 && recovered.Result == "3",
            $"flaky(3) (fails on attempts 1 and 2; 5 retries allowed, backoff from 100 ms with full jitter): {TaskTransitions.ToName(recovered.State)} on attempt {recovered.Result} after {recovered.Retries} retries");
        context.Check("deadLettered", TaskTransitions.ToName(dead.State), dead.State == TaskState.DeadLettered && dead.Attempts == 3,
            $"flaky(99) with 2 retries: {TaskTransitions.ToName(dead.State)} after {dead.Attempts} attempts ({dead.Error})");
        ScenarioContext.Require(dead.State == TaskState.DeadLettered, $"flaky(99) is {TaskTransitions.ToName(dead.State)}, not dead-lettered: the dead-letter steps cannot run");
        await ScenarioContext.WaitUntilAsync($"{dead.Id} appearing in the queue's dead-letter list", Wait, async () => (await tasks.DeadLettersAsync()).Any(l => l.TaskId == dead.Id), cancellationToken);
        var requeued = await tasks.RetryDeadLetterAsync(dead.Id);
        context.Check(requeued.State == TaskState.Pending && requeued.Retries == 0,
            $"it is in the dead-letter list; retried from there it is {TaskTransitions.ToName(requeued.State)} again with {requeued.Retries} retries used");
        await tasks.CancelAsync(dead.Id);

        var eta = DateTimeOffset.UtcNow.AddSeconds(1.5);
        var later = await tasks.SubmitAsync(new TaskSubmission("add", "[1, 1]") { Eta = eta });
        var limited = await tasks.SubmitAsync(new TaskSubmission("sleep", "[60000]") { TimeLimit = TimeSpan.FromMilliseconds(300), MaxRetries = 0 });
        var ran = await tasks.WaitAsync(later.Id, Wait, cancellationToken);
        var cut = await tasks.WaitAsync(limited.Id, Wait, cancellationToken);
        var early = ran.StartedAt is not { } startedAt || startedAt < eta;
        context.Check("etaEarly", early, !early && ran.State == TaskState.Succeeded && ran.Attempts == 1,
            $"ETA task: due {eta:HH:mm:ss.fff}, started {ran.StartedAt:HH:mm:ss.fff} ({(early ? "EARLY or never" : "not early")}), {TaskTransitions.ToName(ran.State)} after {ran.Attempts} run(s)");
        context.Check("timeLimit", TaskTransitions.ToName(cut.State), cut.State == TaskState.TimedOut,
            $"sleep(60 s) with a 300 ms time limit: {TaskTransitions.ToName(cut.State)} ({cut.Error})");
        await WorkerSiloLossAsync(context, cancellationToken);
        return context.AllHeld;
    }

    /// <summary>
    /// A worker silo dies mid-run. An in-process silo cannot be SIGKILLed, so this runs a private
    /// two-silo cluster in this process, with workers on both, and kills silo B (see
    /// <see cref="InProcessTaskCluster"/>) while handlers run on it: seen in B's run journal, not in
    /// the queue's worker list, which is refreshed every 2 s and would show runs long finished. Their
    /// leases expire and the tasks run again on silo A. Every claim printed is checked against the
    /// task records and the run journals of both silos. (The cluster tests SIGKILL real silo processes.)
    /// </summary>
    private static async Task WorkerSiloLossAsync(ScenarioContext context, CancellationToken cancellationToken)
    {
        const int Count = 16;
        context.Say("worker silo lost mid-run: a private 2-silo cluster in this process (A and B, one worker of 8 slots each, a shared in-process store standing in for the database)");
        var runs = new RecordedRuns();
        await using var cluster = await InProcessTaskCluster.StartAsync(
            new Dictionary<string, string?>
            {
                ["Granary:Scheduling:WorkersPerSilo"] = "1",
                ["Granary:Scheduling:WorkerCapacity"] = "8",
                ["Granary:Scheduling:LeaseTimeout"] = "00:00:02",
                ["Granary:Scheduling:HeartbeatInterval"] = "00:00:00.500",
                ["Granary:Scheduling:KeeperInterval"] = "00:00:01",
            },
            runs,
            cancellationToken);
        var tasks = new TaskClient(cluster.Grains);
        var clock = Stopwatch.StartNew();
        await ScenarioContext.WaitUntilAsync("workers of both silos registering with the queue", Wait,
            async () => (await tasks.WorkersAsync()).Select(w => w.Silo).Distinct().Count() >= 2, cancellationToken);
        var submitted = await Task.WhenAll(Enumerable.Range(0, Count).Select(i => tasks.SubmitAsync(new TaskSubmission("sleep", "[800]") { Key = "k" + i.ToString(CultureInfo.InvariantCulture) })));
        await ScenarioContext.WaitUntilAsync("a handler running on silo B", Wait,
            () => Task.FromResult(runs.InProgressOn(InProcessTaskCluster.WorkerSilo).Count > 0), cancellationToken);
        var killedAt = clock.Elapsed;
        await cluster.CrashWorkerSiloAsync();
        var cutOff = runs.InProgressOn(InProcessTaskCluster.WorkerSilo);
        ScenarioContext.Require(cutOff.Count > 0, "every handler on silo B finished before it was killed: nothing was lost with it");
        context.Say(string.Create(CultureInfo.InvariantCulture, $"{Count} sleep(800 ms) tasks submitted; silo B killed at {killedAt.TotalSeconds:F1} s while its worker ran {cutOff.Count} of them (handlers started on B and not finished, in B's run journal): from that instant B's grains call nothing, answer nothing and reach no storage"));

        var done = await Task.WhenAll(submitted.Select(t => WaitThroughFailoverAsync(tasks, t.Id, cancellationToken)));
        var finishedAt = clock.Elapsed;
        var events = runs.Events;
        var byId = done.ToDictionary(t => t.Id, StringComparer.Ordinal);
        var succeeded = done.Count(t => t.State == TaskState.Succeeded);
        var redispatched = done.Sum(t => t.Redeliveries);
        var open = done.Where(t => !t.IsTerminal).Select(t => $"{t.Id} {TaskTransitions.ToName(t.State)}").ToList();
        context.Check("workerSiloLost", new { submitted = Count, succeeded, redispatched, cutOff = cutOff.Count }, succeeded == Count,
            string.Create(CultureInfo.InvariantCulture, $"after the loss: {succeeded} of {Count} succeeded by {finishedAt.TotalSeconds:F1} s{(open.Count == 0 ? string.Empty : "; not finished: " + string.Join(", ", open))}"));

        // The runs cut off with B: lease expired, dispatched again, ran to the end on A.
        var rerun = cutOff.Count(r => byId[r.TaskId].Redeliveries >= 1 && events.Any(e =>
            e.Silo == InProcessTaskCluster.PrimarySilo && e.Event.TaskId == r.TaskId && e.Event.Kind == TaskRunEventKind.Finished && e.Event.Attempt > r.Attempt));
        context.Check(rerun == cutOff.Count,
            string.Create(CultureInfo.InvariantCulture, $"the {cutOff.Count} runs cut off with B were dispatched again when their lease expired (late acknowledgement) and ran to the end on A: {rerun} of {cutOff.Count} ({redispatched} re-dispatches in all)"));

        // What the handlers really did, against what the task records say.
        var started = events.Where(e => e.Event.Kind == TaskRunEventKind.Started).ToLookup(e => e.Event.TaskId, StringComparer.Ordinal);
        var finishedOk = events.Where(e => e.Event.Kind == TaskRunEventKind.Finished && e.Event.Outcome == RunOutcome.Succeeded).ToLookup(e => e.Event.TaskId, StringComparer.Ordinal);
        var honest = done.All(t =>
            t.Attempts == 1 + t.Redeliveries
            && started[t.Id].Count() <= t.Attempts
            && (t.State != TaskState.Succeeded || finishedOk[t.Id].Any(e => e.Event.Attempt == t.Attempts)));
        context.Check(honest,
            string.Create(CultureInfo.InvariantCulture, $"{started.Sum(g => g.Count())} handler runs started (run journals of A, and of B until it died) for {done.Sum(t => t.Attempts)} claims recorded: no task ran without a claim, and each was completed by a run that finished under its last claim"));
        if (!context.AllHeld)
        {
            foreach (var (silo, e) in events)
            {
                context.Say(string.Create(CultureInfo.InvariantCulture, $"  journal of {silo}: {e.At:HH:mm:ss.fff} {e.Kind} {e.TaskId} attempt {e.Attempt} {e.Outcome}"));
            }

            foreach (var t in done)
            {
                context.Say($"  task {t.Id}: {TaskTransitions.ToName(t.State)}, attempts {t.Attempts}, re-dispatches {t.Redeliveries}, worker {t.Worker}");
            }
        }
    }

    /// <summary>
    /// Waits for a task while the cluster takes in a silo's death: until the silo is declared dead,
    /// calls whose grain directory entry lived there fail (connection refused); they are asked again.
    /// </summary>
    private static async Task<TaskInfo> WaitThroughFailoverAsync(TaskClient tasks, string id, CancellationToken cancellationToken)
    {
        var clock = Stopwatch.StartNew();
        while (true)
        {
            try
            {
                return await tasks.WaitAsync(id, Wait - clock.Elapsed, cancellationToken);
            }
            catch (OrleansException) when (clock.Elapsed < Wait)
            {
                await Task.Delay(100, cancellationToken); // retry pause; bounded by the wait
            }
        }
    }

    /// <summary>Stops the scenario when no worker registers: nothing could run.</summary>
    internal static async Task<IReadOnlyList<WorkerInfo>> WaitForWorkersAsync(TaskClient tasks, ScenarioContext context, CancellationToken cancellationToken)
    {
        IReadOnlyList<WorkerInfo> workers = [];
        await ScenarioContext.WaitUntilAsync($"a worker registering on queue '{SchedulingDefaults.Queue}'", TimeSpan.FromSeconds(15), async () => (workers = await tasks.WorkersAsync()).Count > 0, cancellationToken);
        context.Say(string.Create(CultureInfo.InvariantCulture, $"{workers.Count} workers on queue '{SchedulingDefaults.Queue}' ({string.Join(", ", workers.Select(w => $"{w.Id.Split('/')[^1]} x{w.Capacity}"))})"));
        return workers;
    }

    private static async Task<TaskInfo> WaitForTerminalAsync(TaskClient tasks, string id, string what, CancellationToken cancellationToken)
    {
        TaskInfo? info = null;
        await ScenarioContext.WaitUntilAsync($"{what} ({id}) finishing", Wait, async () =>
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
        return info!;
    }
}
