using System.Diagnostics;
using System.Globalization;
using Granary.Client.Scheduling;
using Granary.Scheduling;
using Granary.Server.Scheduling;
using Granary.Tests.Cluster.Infrastructure;
using Xunit.Abstractions;

namespace Granary.Tests.Cluster.Scheduling;

/// <summary>
/// Three real silo processes on PostgreSQL shards. A cron task firing every second keeps going
/// when the silo hosting it is SIGKILLed, and no tick fires twice (its handler's runs are counted in
/// the silos' run journals); a per-type rate limit holds
/// across the whole cluster while several silos dispatch; ETA tasks never start before their ETA
/// and run once, including those whose ETA falls during the silo loss.
/// </summary>
[Collection(ServersCollection.Name)]
public sealed class SchedulingPeriodicLossTests(SharedServersFixture servers, ITestOutputHelper output)
{
    private const double RatePerSecond = 20;
    private const int Burst = 5;
    private const int LimitedTasks = 120;
    private const int EtaTasks = 40;
    private const int TicksAfterKill = 4;
    private static readonly TimeSpan CallTimeout = TimeSpan.FromSeconds(5);
    private static readonly TimeSpan Deadline = TimeSpan.FromSeconds(90);

    [Fact]
    public async Task Cron_ticks_fire_once_across_silo_loss_rate_limits_hold_cluster_wide_and_eta_tasks_never_run_early()
    {
        var prefix = "cron" + Guid.NewGuid().ToString("N")[..8];
        var journal = Directory.CreateTempSubdirectory("granary-runs-");
        await using var cluster = await StandaloneCluster.StartAsync(new StandaloneClusterOptions
        {
            RedisConnectionString = servers.Redis.ConnectionString,
            Shards = [.. Enumerable.Range(0, 2).Select(i => servers.Postgres.ConnectionString($"{prefix}_shard_{i}"))],
            Silos = 3,
            Settings = new Dictionary<string, string>
            {
                ["Granary:Scheduling:RateLimits:multiply:PerSecond"] = RatePerSecond.ToString(CultureInfo.InvariantCulture),
                ["Granary:Scheduling:RateLimits:multiply:Burst"] = Burst.ToString(CultureInfo.InvariantCulture),
                ["Granary:Scheduling:LeaseTimeout"] = "00:00:04",
                ["Granary:Scheduling:KeeperInterval"] = "00:00:01",
                ["Granary:Scheduling:RunJournalDirectory"] = journal.FullName,
            },
        });
        var tasks = new TaskClient(cluster.Grains);
        var clock = Stopwatch.StartNew();

        // 1. A periodic task every second, and ETA tasks due over the next 6-16 seconds (across the kill).
        var name = prefix + "-every-second";
        // Taken before the call: the grain may fire its first tick before the answer arrives, and that
        // tick must be inside the range of ticks checked below.
        var scheduledAt = DateTimeOffset.UtcNow;
        var scheduled = await Retry(() => tasks.ScheduleAsync(name, "* * * * * *", new TaskSubmission("add", "[1, 1]")));
        var etaStart = DateTimeOffset.UtcNow.AddSeconds(6);
        var etaOf = Enumerable.Range(0, EtaTasks).Select(i => etaStart.AddMilliseconds(250 * i)).ToList();
        var etaIds = await SubmitAllAsync(tasks, [.. etaOf.Select((at, i) =>
            new TaskSubmission("add", $"[{i}, 1]") { Eta = at, Key = "eta" + i.ToString(CultureInfo.InvariantCulture) })]);

        // 2. Rate limit: 120 multiply tasks spread over every partition, dispatched by the schedulers of several silos.
        var limitedIds = await SubmitAllAsync(tasks, [.. Enumerable.Range(0, LimitedTasks).Select(i =>
            new TaskSubmission("multiply", $"[{i}, 2]") { Key = "rl" + i.ToString(CultureInfo.InvariantCulture) })]);
        var limited = await WaitForTerminalAsync(tasks, limitedIds);
        var workers = await Retry(() => tasks.WorkersAsync());
        var starts = limited.Select(t => t.StartedAt!.Value).Order().ToList();
        var span = (starts[^1] - starts[0]).TotalSeconds;
        var measuredRate = (starts.Count - Burst) / span;
        var busiestSecond = starts.Select((s, i) => starts.Skip(i).TakeWhile(t => t - s < TimeSpan.FromSeconds(1)).Count()).Max();
        var silosUsed = limited.Select(t => workers.FirstOrDefault(w => w.Id == t.Worker)?.Silo ?? t.Worker).Distinct().Count();
        output.WriteLine(string.Create(CultureInfo.InvariantCulture,
            $"rate limit {RatePerSecond}/s burst {Burst}: {limited.Count} multiply tasks started over {span:F2} s = {measuredRate:F1}/s after the burst; busiest 1 s window {busiestSecond} starts; ran on workers of {silosUsed} silos"));

        // 3. Once the periodic task has fired a few times, SIGKILL the silo hosting it.
        var before = await WaitForFiredAsync(tasks, name, 3);
        var periodic = cluster.Grains.GetGrain<IPeriodicTaskGrain>(name);
        var host = (await Eventually.ValueAsync("the periodic task's host is known", () => cluster.FindHostAsync(periodic).WaitAsync(CallTimeout), h => h is not null, Deadline, TimeSpan.FromMilliseconds(100)))!;
        await cluster.KillProcessesAsync(host);
        var killedAt = DateTimeOffset.UtcNow;
        await cluster.WaitUntilDeclaredDeadAsync(host);
        output.WriteLine($"at {clock.Elapsed.TotalSeconds:F1} s: periodic task fired {before.Fired} times (last tick {before.LastFiredTick:HH:mm:ss}); killed its host {host}");

        // 4. It keeps firing from another silo; then stop it and check every tick.
        var after = await WaitForFiredAsync(tasks, name, before.Fired + TicksAfterKill);
        var resumedAt = DateTimeOffset.UtcNow;
        await Retry(async () =>
        {
            await tasks.RemovePeriodicAsync(name);
            return true;
        });
        var final = await Retry(() => tasks.GetPeriodicAsync(name));
        Assert.False(final.Enabled);

        var ticks = new List<DateTimeOffset>();
        var first = new DateTimeOffset(scheduledAt.UtcTicks - (scheduledAt.UtcTicks % TimeSpan.TicksPerSecond), TimeSpan.Zero);
        for (var t = first; t <= final.LastFiredTick!.Value; t = t.AddSeconds(1))
        {
            ticks.Add(t);
        }

        var tickTasks = await FindAllAsync(tasks, [.. ticks.Select(t => PeriodicTaskGrain.TickTaskId(name, t))]);
        var fired = tickTasks.Where(t => t is not null).Select(t => t!).ToList();
        var firedTerminal = await WaitForTerminalAsync(tasks, [.. fired.Select(t => t.Id)]);
        var missing = ticks.Where((t, i) => tickTasks[i] is null).ToList();
        output.WriteLine($"ticks {ticks.Count} from {ticks[0]:HH:mm:ss} to {ticks[^1]:HH:mm:ss}: fired {fired.Count}, stored fire count {final.Fired}, " +
            $"fired after the kill {fired.Count(t => t.CreatedAt > killedAt)}, skipped (collapsed) {missing.Count}: {string.Join(" ", missing.Select(m => m.ToString("HH:mm:ss", CultureInfo.InvariantCulture)))}");
        output.WriteLine($"kill at {killedAt:HH:mm:ss.f}, {TicksAfterKill} more ticks fired by {resumedAt:HH:mm:ss.f}; runs per tick task: {string.Join(",", firedTerminal.Select(t => t.Attempts).Distinct())}");

        // One firing per tick: the stored count of firings equals the tick tasks that exist, each run once.
        Assert.Equal(final.Fired, fired.Count);
        Assert.True(after.Fired >= before.Fired + TicksAfterKill);
        Assert.True(fired.Count(t => t.CreatedAt > killedAt) >= TicksAfterKill - 1, "periodic firing did not resume after the kill");
        Assert.All(firedTerminal, t => Assert.Equal(TaskState.Succeeded, t.State));
        Assert.All(firedTerminal, t => Assert.Equal(1 + t.Redeliveries, t.Attempts));

        // No tick fired twice, counted where the work happens: each tick's handler (the silos' run
        // journals) finished once, or once more per run lost with the killed silo, and never ran
        // without a claim.
        var runs = FileTaskRunJournal.ReadDirectory(journal.FullName);
        var tickStarts = runs.Where(r => r.Kind == TaskRunEventKind.Started).ToLookup(r => r.TaskId, StringComparer.Ordinal);
        var tickFinishes = runs.Where(r => r.Kind == TaskRunEventKind.Finished && r.Outcome == RunOutcome.Succeeded).ToLookup(r => r.TaskId, StringComparer.Ordinal);
        output.WriteLine($"tick handler runs (run journals): {firedTerminal.Sum(t => tickStarts[t.Id].Count())} started, {firedTerminal.Sum(t => tickFinishes[t.Id].Count())} finished, for {firedTerminal.Count} ticks and {firedTerminal.Sum(t => t.Attempts)} claims");
        Assert.All(firedTerminal, t => Assert.InRange(tickFinishes[t.Id].Count(), 1, 1 + t.Redeliveries));
        Assert.All(firedTerminal, t => Assert.InRange(tickStarts[t.Id].Count(), t.Attempts - t.Redeliveries, t.Attempts));

        // Rate limit: never more than the bucket allows, cluster-wide.
        Assert.All(limited, t => Assert.Equal("multiply", t.Type));
        Assert.All(limited, t => Assert.Equal(TaskState.Succeeded, t.State));
        Assert.True(silosUsed >= 2, $"only {silosUsed} silo ran the rate-limited tasks");
        Assert.True(measuredRate <= RatePerSecond * 1.15, $"measured {measuredRate:F1}/s over a limit of {RatePerSecond}/s");
        Assert.True(busiestSecond <= Burst + RatePerSecond + 3, $"{busiestSecond} starts in one second (limit {RatePerSecond}/s + burst {Burst})");

        // ETA tasks: none started before its ETA, each ran exactly once.
        var eta = await WaitForTerminalAsync(tasks, etaIds);
        // The record's ETA is cleared when a run is claimed; compare with the ETA each task was submitted with.
        var margins = eta.Select((t, i) => (t.StartedAt!.Value - etaOf[i]).TotalMilliseconds).ToList();
        var earliestMargin = margins.Min();
        output.WriteLine(string.Create(CultureInfo.InvariantCulture,
            $"ETA tasks {eta.Count}: succeeded {eta.Count(t => t.State == TaskState.Succeeded)}, due after the kill {etaOf.Count(at => at > killedAt)}, " +
            $"started at least {earliestMargin:F0} ms after their ETA, runs {eta.Sum(t => t.Attempts)}, re-dispatched {eta.Sum(t => t.Redeliveries)}; total {clock.Elapsed.TotalSeconds:F1} s"));
        Assert.All(eta, t => Assert.Equal(TaskState.Succeeded, t.State));
        Assert.All(margins, m => Assert.True(m >= 0, $"a task started {-m:F0} ms before its ETA"));
        Assert.All(eta, t => Assert.Equal(1 + t.Redeliveries, t.Attempts));
        Assert.All(eta, t => Assert.Equal(0, t.Retries));
        Assert.Equal(name, scheduled.Name);
        Assert.Equal(EtaTasks, eta.Count);
        journal.Delete(recursive: true);
    }

    private static Task<PeriodicTaskInfo> WaitForFiredAsync(TaskClient tasks, string name, long fired) =>
        Eventually.ValueAsync(
            $"the periodic task fired {fired} times (fired so far)",
            () => Retry(() => tasks.GetPeriodicAsync(name)),
            info => info.Fired >= fired,
            Deadline,
            TimeSpan.FromMilliseconds(200));

    private static async Task<List<string>> SubmitAllAsync(TaskClient tasks, IReadOnlyList<TaskSubmission> submissions)
    {
        var ids = new string[submissions.Count];
        await Parallel.ForEachAsync(Enumerable.Range(0, submissions.Count), new ParallelOptions { MaxDegreeOfParallelism = 16 }, async (i, _) =>
        {
            var id = "t-" + Guid.NewGuid().ToString("N");
            ids[i] = (await Retry(() => tasks.SubmitWithIdAsync(id, submissions[i]))).Id;
        });
        return [.. ids];
    }

    private static async Task<List<TaskInfo?>> FindAllAsync(TaskClient tasks, IReadOnlyList<string> ids)
    {
        var found = new TaskInfo?[ids.Count];
        await Parallel.ForEachAsync(Enumerable.Range(0, ids.Count), new ParallelOptions { MaxDegreeOfParallelism = 16 }, async (i, _) =>
        {
            try
            {
                found[i] = await Retry(() => tasks.GetAsync(ids[i]));
            }
            catch (TaskNotFoundException)
            {
                found[i] = null;
            }
        });
        return [.. found];
    }

    private static async Task<List<TaskInfo>> WaitForTerminalAsync(TaskClient tasks, IReadOnlyList<string> ids)
    {
        var latest = new Dictionary<string, TaskInfo>(StringComparer.Ordinal);
        async Task<int> OpenAfterRefreshAsync()
        {
            var open = ids.Where(id => !latest.TryGetValue(id, out var t) || !t.IsTerminal).ToList();
            await Parallel.ForEachAsync(open, new ParallelOptions { MaxDegreeOfParallelism = 16 }, async (id, _) =>
            {
                try
                {
                    var info = await tasks.GetAsync(id).WaitAsync(CallTimeout);
                    lock (latest)
                    {
                        latest[id] = info;
                    }
                }
                catch (Exception ex) when (ClientRetry.IsTransient(ex))
                {
                    // Its grain is being recovered on another silo; asked again next round.
                }
            });
            return ids.Count(id => !latest.TryGetValue(id, out var t) || !t.IsTerminal);
        }

        await Eventually.ValueAsync("every task terminal (tasks open)", OpenAfterRefreshAsync, open => open == 0, Deadline, TimeSpan.FromMilliseconds(250));
        return [.. ids.Select(id => latest[id])];
    }

    private static Task<T> Retry<T>(Func<Task<T>> call) =>
        Eventually.SucceedsAsync("a call through the loss", () => call().WaitAsync(CallTimeout), Deadline, ClientRetry.IsTransient, TimeSpan.FromMilliseconds(200));
}
