using Granary.Client.Scheduling;
using Granary.Scheduling;
using Granary.Tests.Cluster.Foundation;
using Granary.Tests.Cluster.Infrastructure;
using Xunit.Abstractions;

namespace Granary.Tests.Cluster.Scheduling;

/// <summary>
/// Tasks, workflows and failures on an in-process cluster, written once and run on every storage
/// backend (<see cref="SchedulingScenariosOnMemory"/>, <see cref="SchedulingScenariosOnPostgres"/>).
/// </summary>
public abstract class SchedulingScenarios(GranaryTestClusterFixture fixture, ITestOutputHelper output)
{
    private static readonly TimeSpan Wait = TimeSpan.FromSeconds(30);
    private readonly TaskClient _tasks = new(fixture.Grains);

    [Fact]
    public async Task Seed_tasks_chain_and_chord_produce_their_results()
    {
        var add = await _tasks.SubmitAsync(new TaskSubmission("add", "[2, 3]"));
        var multiply = await _tasks.SubmitAsync(new TaskSubmission("multiply", "[4, 5]"));
        Assert.Equal("5", (await _tasks.WaitAsync(add.Id, Wait)).Result);
        Assert.Equal("20", (await _tasks.WaitAsync(multiply.Id, Wait)).Result);

        // chain(add(2, 2), multiply(8)) = 32, as in Celery.
        var chain = await _tasks.ChainAsync([new TaskSubmission("add", "[2, 2]"), new TaskSubmission("multiply", "[8]")]);
        var last = await _tasks.WaitForChainAsync(chain.Id, Wait);
        Assert.Equal(TaskState.Succeeded, last.State);
        Assert.Equal("32", last.Result);

        // chord(add(i, i) for i in 0..9)(xsum) = 90.
        var chord = await _tasks.ChordAsync(
            [.. Enumerable.Range(0, 10).Select(i => new TaskSubmission("add", $"[{i}, {i}]"))],
            new TaskSubmission("xsum", "[]"));
        var callback = await WaitForTaskAsync(chord.CallbackTaskId!);
        Assert.Equal(TaskState.Succeeded, callback.State);
        Assert.Equal("90", callback.Result);
        output.WriteLine($"add={add.Id} chain last={last.Id} chord callback={callback.Id} result={callback.Result}");
    }

    [Fact]
    public async Task Bad_submissions_are_typed_errors_and_nothing_is_queued()
    {
        Assert.Equal("type", (await Assert.ThrowsAsync<TaskRejectedException>(() => _tasks.SubmitAsync(new TaskSubmission("no-such-task", "[]")))).Parameter);
        Assert.Equal("args", (await Assert.ThrowsAsync<TaskRejectedException>(() => _tasks.SubmitAsync(new TaskSubmission("add", "[1, \"two\"]")))).Parameter);
        Assert.Equal("args", (await Assert.ThrowsAsync<TaskRejectedException>(() => _tasks.SubmitAsync(new TaskSubmission("add", "{oops")))).Parameter);
        Assert.Equal("delay", (await Assert.ThrowsAsync<TaskRejectedException>(() => _tasks.SubmitAsync(new TaskSubmission("add", "[1, 2]") { Delay = TimeSpan.FromSeconds(-1) }))).Parameter);
        Assert.Equal("cron", (await Assert.ThrowsAsync<TaskRejectedException>(() => _tasks.ScheduleAsync("bad-cron", "every minute", new TaskSubmission("add", "[1, 2]")))).Parameter);

        var id = "never-" + Guid.NewGuid().ToString("N");
        await Assert.ThrowsAsync<TaskRejectedException>(() => fixture.Grains.GetGrain<ITaskGrain>(id).SubmitAsync(new TaskSubmission("add", "[1]")));
        await Assert.ThrowsAsync<TaskNotFoundException>(() => _tasks.GetAsync(id));
    }

    [Fact]
    public async Task Eta_task_does_not_start_before_its_eta()
    {
        var eta = DateTimeOffset.UtcNow.AddSeconds(2);
        var task = await _tasks.SubmitAsync(new TaskSubmission("add", "[1, 1]") { Eta = eta });
        Assert.Equal(TaskState.Scheduled, task.State);
        var done = await _tasks.WaitAsync(task.Id, Wait);
        Assert.Equal(TaskState.Succeeded, done.State);
        Assert.True(done.StartedAt >= eta, $"started {done.StartedAt:O}, eta {eta:O}");
        Assert.Equal(1, done.Attempts);
    }

    [Fact]
    public async Task Retries_then_dead_letter_then_retry_from_the_dead_letter_list()
    {
        var fast = TimeSpan.FromMilliseconds(20);
        var recovers = await _tasks.SubmitAsync(new TaskSubmission("flaky", "[3]") { MaxRetries = 5, BackoffBase = fast, BackoffCap = fast });
        var exhausted = await _tasks.SubmitAsync(new TaskSubmission("flaky", "[10]") { MaxRetries = 2, BackoffBase = fast, BackoffCap = fast });

        var ok = await _tasks.WaitAsync(recovers.Id, Wait);
        Assert.Equal(TaskState.Succeeded, ok.State);
        Assert.Equal(2, ok.Retries);
        Assert.Equal("3", ok.Result);

        var dead = await _tasks.WaitAsync(exhausted.Id, Wait);
        Assert.Equal(TaskState.DeadLettered, dead.State);
        Assert.Equal(2, dead.Retries);
        Assert.Equal(3, dead.Attempts);
        await Eventually.TrueAsync($"task {dead.Id} in the dead-letter list", async () => (await _tasks.DeadLettersAsync()).Any(l => l.TaskId == dead.Id), Wait);

        var retried = await _tasks.RetryDeadLetterAsync(dead.Id);
        Assert.Equal(TaskState.Pending, retried.State);
        Assert.DoesNotContain(await _tasks.DeadLettersAsync(), l => l.TaskId == dead.Id);
        await Assert.ThrowsAsync<TaskStateException>(() => _tasks.RetryDeadLetterAsync(recovers.Id));
    }

    [Fact]
    public async Task Time_limit_stops_a_long_run_and_cancel_stops_a_waiting_one()
    {
        var slow = await _tasks.SubmitAsync(new TaskSubmission("sleep", "[60000]") { TimeLimit = TimeSpan.FromMilliseconds(300), MaxRetries = 0 });
        var timedOut = await _tasks.WaitAsync(slow.Id, Wait);
        Assert.Equal(TaskState.TimedOut, timedOut.State);
        Assert.True(timedOut.FinishedAt - timedOut.StartedAt < TimeSpan.FromSeconds(5));

        var later = await _tasks.SubmitAsync(new TaskSubmission("add", "[1, 2]") { Delay = TimeSpan.FromMinutes(10) });
        var cancelled = await _tasks.CancelAsync(later.Id);
        Assert.Equal(TaskState.Cancelled, cancelled.State);
        Assert.Equal(0, cancelled.Attempts);
    }

    [Fact]
    public async Task Idempotency_key_returns_the_first_task()
    {
        var key = "order-" + Guid.NewGuid().ToString("N");
        var submissions = await Task.WhenAll(Enumerable.Range(0, 5).Select(i => _tasks.SubmitAsync(new TaskSubmission("add", $"[{i}, 100]") { IdempotencyKey = key })));
        Assert.Single(submissions.Select(s => s.Id).Distinct());
        var done = await _tasks.WaitAsync(submissions[0].Id, Wait);
        Assert.Equal(1, done.Attempts);
        Assert.Equal(submissions[0].Args, done.Args);
    }

    [Fact]
    public async Task Smooth_weighted_balancer_splits_dispatches_5_1_1()
    {
        var queue = "weights-" + Guid.NewGuid().ToString("N")[..8];
        await _tasks.ConfigureQueueAsync(queue, new QueueSettings("smooth-weighted", 1));
        foreach (var (name, weight) in new[] { ("a", 5), ("b", 1), ("c", 1) })
        {
            await fixture.Grains.GetGrain<IWorkerGrain>($"{queue}/{name}").StartAsync(new WorkerSettings(1000, weight));
        }

        var ids = await SubmitManyAsync(700, _ => new TaskSubmission("add", "[1, 1]") { Queue = queue });
        var perWorker = await CountPerWorkerAsync(ids);
        output.WriteLine("smooth-weighted 5:1:1 over 700 tasks: " + string.Join(", ", perWorker.OrderBy(kv => kv.Key).Select(kv => $"{kv.Key}={kv.Value}")));
        Assert.InRange(perWorker[$"{queue}/a"], 470, 530);
        Assert.InRange(perWorker[$"{queue}/b"], 80, 120);
        Assert.InRange(perWorker[$"{queue}/c"], 80, 120);
    }

    [Fact]
    public async Task Least_connections_keeps_a_slow_worker_lighter()
    {
        var queue = "lc-" + Guid.NewGuid().ToString("N")[..8];
        await _tasks.ConfigureQueueAsync(queue, new QueueSettings("least-connections", 1));
        await fixture.Grains.GetGrain<IWorkerGrain>($"{queue}/fast").StartAsync(new WorkerSettings(4, 1));
        await fixture.Grains.GetGrain<IWorkerGrain>($"{queue}/slow").StartAsync(new WorkerSettings(4, 1) { ExtraLatency = TimeSpan.FromMilliseconds(500) });

        var ids = await SubmitManyAsync(200, _ => new TaskSubmission("sleep", "[5]") { Queue = queue });
        var perWorker = await CountPerWorkerAsync(ids);
        var fastCount = perWorker.GetValueOrDefault($"{queue}/fast");
        var slowCount = perWorker.GetValueOrDefault($"{queue}/slow");
        output.WriteLine($"least-connections over 200 tasks: fast={fastCount} slow={slowCount}");
        Assert.True(fastCount > 2 * slowCount, $"fast {fastCount}, slow {slowCount}");
    }

    private async Task<List<string>> SubmitManyAsync(int count, Func<int, TaskSubmission> make)
    {
        var infos = new List<TaskInfo>();
        foreach (var batch in Enumerable.Range(0, count).Chunk(100))
        {
            infos.AddRange(await Task.WhenAll(batch.Select(i => _tasks.SubmitAsync(make(i)))));
        }

        return [.. infos.Select(i => i.Id)];
    }

    private async Task<Dictionary<string, int>> CountPerWorkerAsync(IReadOnlyList<string> ids)
    {
        var done = await Task.WhenAll(ids.Select(id => _tasks.WaitAsync(id, Wait)));
        Assert.All(done, d => Assert.Equal(TaskState.Succeeded, d.State));
        return done.GroupBy(d => d.Worker!).ToDictionary(g => g.Key, g => g.Count());
    }

    private async Task<TaskInfo> WaitForTaskAsync(string id)
    {
        async Task<TaskInfo?> Probe()
        {
            try
            {
                return await _tasks.GetAsync(id);
            }
            catch (TaskNotFoundException)
            {
                return null; // the callback task is created when the chord's header completes
            }
        }

        return (await Eventually.ValueAsync($"task {id} finished", Probe, info => info is { IsTerminal: true }, Wait))!;
    }
}

/// <summary>The scheduling scenarios on memory storage (the fast cluster).</summary>
[Collection(FastClusterCollection.Name)]
public sealed class SchedulingScenariosOnMemory(FastClusterFixture cluster, ITestOutputHelper output) : SchedulingScenarios(cluster, output);

/// <summary>The scheduling scenarios on Redis clustering and PostgreSQL shards.</summary>
[Collection(PostgresClusterCollection.Name)]
public sealed class SchedulingScenariosOnPostgres(PostgresClusterFixture cluster, ITestOutputHelper output) : SchedulingScenarios(cluster, output);
