using System.Diagnostics;
using System.Globalization;
using Granary.Client.Scheduling;
using Granary.Scheduling;
using Granary.Server.Scheduling;
using Granary.Tests.Cluster.Infrastructure;
using Xunit.Abstractions;

namespace Granary.Tests.Cluster.Scheduling;

/// <summary>
/// Real silo processes on PostgreSQL shards: a silo running workers is SIGKILLed while 1,000 tasks
/// (930 with 20% random failures, 50 with idempotency keys, a chord of 20) are being submitted and run. Every task must still end in a terminal state
/// with its retries within the limit, keyed tasks must exist once, and the chord callback must run once.
/// Runs are counted where they happen, in the silos' run journals (a line per handler start and
/// finish, written before the worker goes on, so a killed silo's lines are there too), not only in
/// the task records' own bookkeeping, which cannot show a handler that ran twice.
/// </summary>
[Collection(ServersCollection.Name)]
public sealed class SchedulingSiloLossTests(SharedServersFixture servers, ITestOutputHelper output)
{
    private const int Tasks = 930;
    private const int KeyedTasks = 50;
    private const int ChordMembers = 20;
    private const int MaxRetries = 4;
    private static readonly TimeSpan CallTimeout = TimeSpan.FromSeconds(5);
    private static readonly TimeSpan Deadline = TimeSpan.FromSeconds(150);

    [Fact]
    public async Task Every_task_reaches_a_terminal_state_when_a_worker_silo_is_killed_mid_run()
    {
        var prefix = "tasks" + Guid.NewGuid().ToString("N")[..8];
        var journal = Directory.CreateTempSubdirectory("granary-runs-");
        await using var cluster = await StandaloneCluster.StartAsync(new StandaloneClusterOptions
        {
            RedisConnectionString = servers.Redis.ConnectionString,
            Shards = [.. Enumerable.Range(0, 2).Select(i => servers.Postgres.ConnectionString($"{prefix}_shard_{i}"))],
            Silos = 2,
            Settings = new Dictionary<string, string>
            {
                ["Granary:Scheduling:WorkerCapacity"] = "16",
                ["Granary:Scheduling:LeaseTimeout"] = "00:00:04",
                ["Granary:Scheduling:KeeperInterval"] = "00:00:01",
                ["Granary:Scheduling:RunJournalDirectory"] = journal.FullName,
            },
        });
        var tasks = new TaskClient(cluster.Grains);
        var clock = Stopwatch.StartNew();
        var backoff = TimeSpan.FromMilliseconds(100);

        // 1. Submit a chord, then random-failure tasks and keyed tasks from 32 concurrent callers.
        var chord = await Retry(() => tasks.ChordAsync(
            [.. Enumerable.Range(1, ChordMembers).Select(i => new TaskSubmission("chaos", $"[20, 300]") { MaxRetries = 8, BackoffBase = backoff, BackoffCap = backoff })],
            new TaskSubmission("xsum", "[]"),
            id: prefix + "-chord"));
        var plain = Enumerable.Range(0, Tasks).Select(i =>
            new TaskSubmission("chaos", "[20, 300]") { MaxRetries = MaxRetries, BackoffBase = backoff, BackoffCap = TimeSpan.FromSeconds(1), Key = "k" + i.ToString(CultureInfo.InvariantCulture) });
        var keyed = Enumerable.Range(0, KeyedTasks).Select(i =>
            new TaskSubmission("add", $"[{i}, 1000]") { IdempotencyKey = $"{prefix}-order-{i}", MaxRetries = MaxRetries });
        var submitting = SubmitAllAsync(tasks, [.. keyed, .. plain]);

        // 2. While submission goes on, once work is under way, SIGKILL the silo whose workers are busiest.
        var workers = await WaitForProgressAsync(tasks, 60);
        var busiest = workers.GroupBy(w => w.Silo).OrderByDescending(g => g.Sum(w => w.InFlight)).First();
        var victim = cluster.Silos.First(s => s.IsAlive && busiest.Key.Contains(":" + s.SiloPort.ToString(CultureInfo.InvariantCulture), StringComparison.Ordinal));
        output.WriteLine($"at {clock.Elapsed.TotalSeconds:F1} s: {workers.Sum(w => w.Completed + w.Failed)} runs done; killing {victim} running {busiest.Sum(w => w.InFlight)} tasks");
        await cluster.KillProcessesAsync(victim);
        var killedAt = DateTimeOffset.UtcNow;
        await cluster.WaitUntilDeclaredDeadAsync(victim);
        var replacement = await cluster.AddSiloAsync();
        output.WriteLine($"replacement {replacement} active at {clock.Elapsed.TotalSeconds:F1} s");
        var submitted = await submitting;
        var keyedIdsBefore = submitted.Take(KeyedTasks).ToList();
        output.WriteLine($"submitted {submitted.Count} tasks + chord of {ChordMembers} by {clock.Elapsed.TotalSeconds:F1} s");

        // Resubmitting with the same idempotency keys after the kill must find the same tasks.
        var keyedAgain = await SubmitAllAsync(tasks, [.. keyed]);
        Assert.Equal(keyedIdsBefore, keyedAgain);

        // 3. Every task reaches a terminal state.
        var all = submitted.Concat(Enumerable.Range(0, ChordMembers).Select(i => $"{chord.Id}.{i}")).ToList();
        var final = await WaitForTerminalAsync(tasks, all);
        var callback = await WaitForCallbackAsync(tasks, chord.Id);

        var succeeded = final.Count(t => t.State == TaskState.Succeeded);
        var deadLettered = final.Count(t => t.State == TaskState.DeadLettered);
        var otherTerminal = final.Count(t => t.State != TaskState.Succeeded && t.State != TaskState.DeadLettered);
        var redispatched = final.Sum(t => t.Redeliveries);
        var retries = final.Sum(t => t.Retries);
        output.WriteLine($"submitted {final.Count}, succeeded {succeeded}, failed (dead-lettered) {deadLettered}, other terminal {otherTerminal}");
        output.WriteLine($"retries used {retries}, re-dispatched after the kill {redispatched} (tasks {final.Count(t => t.Redeliveries > 0)}), max retries on one task {final.Max(t => t.Retries)} (limit {MaxRetries}; chord members 8)");
        output.WriteLine($"chord callback {callback.Id}: {TaskTransitions.ToName(callback.State)} result {callback.Result}, attempts {callback.Attempts}; total {clock.Elapsed.TotalSeconds:F1} s");

        Assert.All(final, t => Assert.True(t.IsTerminal, $"{t.Id} is {t.State}"));
        Assert.All(final, t => Assert.True(t.Retries <= t.MaxRetries, $"{t.Id} used {t.Retries} retries of {t.MaxRetries}"));
        // Each run is one claim: a first run, one per retry, one per re-dispatch after a lost worker. Never more.
        Assert.All(final, t => Assert.Equal(1 + t.Retries + t.Redeliveries, t.Attempts));
        Assert.Equal(0, otherTerminal);
        Assert.Equal(final.Count, succeeded + deadLettered);
        Assert.True(redispatched > 0, "the kill should have interrupted some runs");

        // Keyed tasks: one task per key, each with its own result.
        var keyedFinal = final.Where(t => t.Id.StartsWith("key:", StringComparison.Ordinal)).ToList();
        Assert.Equal(KeyedTasks, keyedFinal.Select(t => t.Id).Distinct().Count());
        Assert.All(keyedFinal, t => Assert.Equal(TaskState.Succeeded, t.State));

        // The chord callback: one task under one id, run once, with the sum of all members' results.
        var members = final.Where(t => t.WorkflowId == chord.Id).ToList();
        Assert.Equal(ChordMembers, members.Count);
        Assert.Equal(TaskState.Succeeded, callback.State);
        Assert.Equal((ChordMembers * 300).ToString(CultureInfo.InvariantCulture), callback.Result);
        Assert.Equal(1 + callback.Retries + callback.Redeliveries, callback.Attempts);
        var workflow = await Retry(() => tasks.GetWorkflowAsync(chord.Id));
        Assert.True(workflow.CallbackSubmitted);
        Assert.Equal(ChordMembers, workflow.Succeeded);
        Assert.True(DateTimeOffset.UtcNow - killedAt < Deadline);

        // What the handlers really did. Every claim that was not lost with a worker ran its
        // handler once; no handler ran without a claim; every task ended on a run that finished
        // under its last claim (so none was completed without running).
        var everything = final.Append(callback).ToList();
        var runs = FileTaskRunJournal.ReadDirectory(journal.FullName);
        var started = runs.Where(r => r.Kind == TaskRunEventKind.Started).ToLookup(r => r.TaskId, StringComparer.Ordinal);
        var finished = runs.Where(r => r.Kind == TaskRunEventKind.Finished).ToLookup(r => r.TaskId, StringComparer.Ordinal);
        output.WriteLine($"run journals of {Directory.GetFiles(journal.FullName).Length} silos: {started.Sum(g => g.Count())} handler runs started, {finished.Sum(g => g.Count())} finished, for {everything.Sum(t => t.Attempts)} claims; " +
            $"tasks whose handler ran more often than it was claimed: {everything.Count(t => started[t.Id].Count() > t.Attempts)}");
        Assert.All(everything, t => Assert.True(started[t.Id].Count() <= t.Attempts, $"{t.Id}: {started[t.Id].Count()} handler runs for {t.Attempts} claims"));
        Assert.All(everything, t => Assert.True(started[t.Id].Count() >= t.Attempts - t.Redeliveries,
            $"{t.Id}: {started[t.Id].Count()} handler runs for {t.Attempts} claims of which only {t.Redeliveries} were lost with a worker"));
        Assert.All(everything, t => Assert.Contains(finished[t.Id], r => r.Attempt == t.Attempts
            && (t.State == TaskState.Succeeded ? r.Outcome == RunOutcome.Succeeded : r.Outcome != RunOutcome.Succeeded)));
        journal.Delete(recursive: true);
    }

    private static async Task<List<string>> SubmitAllAsync(TaskClient tasks, IReadOnlyList<TaskSubmission> submissions)
    {
        var ids = new string[submissions.Count];
        await Parallel.ForEachAsync(Enumerable.Range(0, submissions.Count), new ParallelOptions { MaxDegreeOfParallelism = 32 }, async (i, _) =>
        {
            // The id is fixed before the first attempt so a retried submission is the same task.
            var s = submissions[i];
            var id = s.IdempotencyKey is null ? "t-" + Guid.NewGuid().ToString("N") : TaskClient.IdFor(s);
            ids[i] = (await Retry(() => tasks.SubmitWithIdAsync(id, s))).Id;
        });
        return [.. ids];
    }

    private static Task<IReadOnlyList<WorkerInfo>> WaitForProgressAsync(TaskClient tasks, int runs) =>
        Eventually.ValueAsync(
            $"{runs} runs done and work in flight",
            () => Retry(() => tasks.WorkersAsync()),
            workers => workers.Sum(w => w.Completed + w.Failed) >= runs && workers.Any(w => w.InFlight > 0),
            Deadline,
            TimeSpan.FromMilliseconds(50));

    private async Task<List<TaskInfo>> WaitForTerminalAsync(TaskClient tasks, IReadOnlyList<string> ids)
    {
        var latest = new Dictionary<string, TaskInfo>(StringComparer.Ordinal);
        var clock = Stopwatch.StartNew();
        async Task<(int Open, string Stuck)> RefreshAsync()
        {
            var open = ids.Where(id => !latest.TryGetValue(id, out var t) || !t.IsTerminal).ToList();
            await Parallel.ForEachAsync(open, new ParallelOptions { MaxDegreeOfParallelism = 32 }, async (id, _) =>
            {
                try
                {
                    var info = await tasks.GetAsync(id).WaitAsync(CallTimeout);
                    lock (latest)
                    {
                        latest[id] = info;
                    }
                }
                catch (Exception ex) when (ClientRetry.IsTransient(ex) || ex is TaskNotFoundException)
                {
                    // Its grain is being recovered on another silo; asked again next round.
                }
            });
            open = [.. ids.Where(id => !latest.TryGetValue(id, out var t) || !t.IsTerminal)];
            output.WriteLine($"  {clock.Elapsed.TotalSeconds,5:F1} s: {ids.Count - open.Count} of {ids.Count} terminal");
            return (open.Count, string.Join(", ", open.Take(5).Select(id => latest.TryGetValue(id, out var t) ? $"{id}={t.State}@{t.Worker}" : id + "=?")));
        }

        await Eventually.ValueAsync("every task terminal (tasks open, first stuck)", RefreshAsync, r => r.Open == 0, Deadline, TimeSpan.FromMilliseconds(500));
        return [.. ids.Select(id => latest[id])];
    }

    private static async Task<TaskInfo> WaitForCallbackAsync(TaskClient tasks, string chordId) =>
        (await Eventually.ValueAsync<TaskInfo?>(
            "the chord callback finished",
            async () =>
            {
                try
                {
                    var workflow = await tasks.GetWorkflowAsync(chordId).WaitAsync(CallTimeout);
                    return workflow.CallbackTaskId is { } id ? await tasks.GetAsync(id).WaitAsync(CallTimeout) : null;
                }
                catch (Exception ex) when (ClientRetry.IsTransient(ex) || ex is TaskNotFoundException)
                {
                    return null; // Not there yet, or being recovered.
                }
            },
            info => info is { IsTerminal: true },
            Deadline,
            TimeSpan.FromMilliseconds(200)))!;

    private static Task<T> Retry<T>(Func<Task<T>> call) =>
        Eventually.SucceedsAsync("a call through the loss", () => call().WaitAsync(CallTimeout), Deadline, ClientRetry.IsTransient, TimeSpan.FromMilliseconds(200));
}
