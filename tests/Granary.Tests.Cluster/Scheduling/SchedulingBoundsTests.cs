using System.Diagnostics;
using Granary.Client.Scheduling;
using Granary.Errors;
using Granary.Scheduling;
using Granary.Tests.Cluster.Infrastructure;
using Orleans.TestingHost;
using Xunit.Abstractions;

namespace Granary.Tests.Cluster.Scheduling;

/// <summary>
/// What a request costs the scheduler, and what it may not: a task queue nobody declared starts no
/// scheduler, no timer and stores nothing; idle partitions go away with their timers; a periodic task
/// keeps one timer however often it is replaced and none once removed; bad requests are refused up
/// front by the one set of submission rules. Activations and timers are counted from Orleans' own
/// diagnostic events in the two in-process silos.
/// </summary>
public sealed class SchedulingBoundsTests(SchedulingBoundsTests.Fixture fixture, ITestOutputHelper output) : IClassFixture<SchedulingBoundsTests.Fixture>
{
    private const string SchedulerType = "granary.scheduling.scheduler";
    private const string QueueType = "granary.scheduling.queue";
    private const string PeriodicType = "granary.scheduling.periodic-task";
    private static readonly TimeSpan Wait = TimeSpan.FromSeconds(30);
    private readonly TaskClient _tasks = new(fixture.Grains);

    private ISchedulingDirectoryGrain Directory => fixture.Grains.GetGrain<ISchedulingDirectoryGrain>(0);

    [Fact]
    public async Task A_task_sent_to_an_undeclared_queue_is_refused_and_starts_nothing_until_the_queue_is_declared()
    {
        using var probe = new GrainActivityProbe();
        var queue = "undeclared-" + Guid.NewGuid().ToString("N")[..8];
        var id = "t-" + Guid.NewGuid().ToString("N");
        var submission = new TaskSubmission("add", "[1, 2]") { Queue = queue };
        var clock = Stopwatch.StartNew();

        var refused = await Assert.ThrowsAsync<TaskQueueNotFoundException>(() => _tasks.SubmitWithIdAsync(id, submission));
        var refusedIn = clock.Elapsed;
        output.WriteLine($"refused in {refusedIn.TotalMilliseconds:F0} ms: {refused.Code}: {refused.Message}");
        Assert.Equal(ErrorCodes.NotFound, refused.Code);
        Assert.Equal(queue, refused.Queue);
        await Assert.ThrowsAsync<TaskNotFoundException>(() => _tasks.GetAsync(id));
        await Assert.ThrowsAsync<TaskQueueNotFoundException>(() => fixture.Grains.GetGrain<IWorkerGrain>($"{queue}/w").StartAsync(new WorkerSettings(4, 1)));
        await Assert.ThrowsAsync<TaskQueueNotFoundException>(() => _tasks.WorkersAsync(queue));
        Assert.DoesNotContain(queue, await Directory.GetQueuesAsync());
        Assert.Equal(0, probe.ActivationsCreated(GrainActivityProbe.Grain(SchedulerType, k => k.StartsWith(queue + "/", StringComparison.Ordinal))));
        Assert.Equal(0, probe.TimersCreated(g => g.Key.ToString()!.Contains(queue, StringComparison.Ordinal) || g.Key.ToString() == id));
        await WaitUntilAsync("the undeclared queue's grain to be let go", () => Task.FromResult(probe.LiveActivations(IsQueue(queue)) == 0));

        // Declared with no worker: accepted, and visibly waiting.
        var declared = await _tasks.DeclareQueueAsync(queue, partitions: 2);
        Assert.True(declared.Declared);
        Assert.Empty(declared.Workers);
        var waiting = await _tasks.SubmitWithIdAsync(id, submission);
        Assert.Equal(TaskState.Pending, waiting.State);
        Assert.Empty((await _tasks.GetQueueAsync(queue)).Workers);
        Assert.Contains(await _tasks.ListQueuesAsync(), v => v.Name == queue && v.Workers.Count == 0 && v.ActivePartitions.Count == 1);

        // A worker makes it run.
        var worker = fixture.Grains.GetGrain<IWorkerGrain>($"{queue}/w");
        await worker.StartAsync(new WorkerSettings(4, 1));
        var done = await _tasks.WaitAsync(id, Wait);
        Assert.Equal(TaskState.Succeeded, done.State);
        Assert.Equal("3", done.Result);

        // Removal is refused while the worker serves it, then allowed; afterwards the queue is unknown again.
        await Assert.ThrowsAsync<TaskQueueInUseException>(() => _tasks.RemoveQueueAsync(queue));
        await worker.StopAsync();
        await WaitUntilAsync("the queue to be removable", async () =>
        {
            try
            {
                await _tasks.RemoveQueueAsync(queue);
                return true;
            }
            catch (TaskQueueInUseException ex)
            {
                output.WriteLine("not yet: " + ex.Message);
                return false;
            }
        });
        Assert.DoesNotContain(queue, await Directory.GetQueuesAsync());
        await Assert.ThrowsAsync<TaskQueueNotFoundException>(() => _tasks.SubmitAsync(submission));
    }

    [Fact]
    public async Task Invented_queue_names_leave_no_activation_timer_or_registry_entry_behind()
    {
        const int Names = 100;
        using var probe = new GrainActivityProbe();
        var prefix = "invented-" + Guid.NewGuid().ToString("N")[..8] + "-";
        var registered = (await Directory.GetQueuesAsync()).Count;
        var clock = Stopwatch.StartNew();
        var errors = await Task.WhenAll(Enumerable.Range(0, Names).Select(async i =>
        {
            try
            {
                await _tasks.SubmitAsync(new TaskSubmission("add", "[1, 2]") { Queue = prefix + i });
                return null;
            }
            catch (GranaryException ex)
            {
                return ex;
            }
        }));
        var took = clock.Elapsed;
        Assert.All(errors, e => Assert.IsType<TaskQueueNotFoundException>(e));

        Func<GrainId, bool> invented = id => id.Key.ToString()!.StartsWith(prefix, StringComparison.Ordinal);
        await WaitUntilAsync("the queue grains of invented names to be let go", () => Task.FromResult(probe.LiveActivations(GrainActivityProbe.Grain(QueueType, k => k.StartsWith(prefix, StringComparison.Ordinal))) == 0));
        var schedulers = probe.ActivationsCreated(GrainActivityProbe.Grain(SchedulerType, k => k.StartsWith(prefix, StringComparison.Ordinal)));
        var timers = probe.TimersCreated(invented);
        var live = probe.LiveActivations(invented);
        output.WriteLine($"{Names} invented queue names refused in {took.TotalMilliseconds:F0} ms: scheduler activations {schedulers}, timers {timers}, activations still alive {live}, registry {registered} -> {(await Directory.GetQueuesAsync()).Count}");
        Assert.Equal(0, schedulers);
        Assert.Equal(0, timers);
        Assert.Equal(0, live);
        Assert.Equal(registered, (await Directory.GetQueuesAsync()).Count);
    }

    [Fact]
    public async Task Idle_scheduler_partitions_retire_with_their_timers_and_wake_for_new_work()
    {
        using var probe = new GrainActivityProbe();
        var queue = "idle-" + Guid.NewGuid().ToString("N")[..8];
        await _tasks.DeclareQueueAsync(queue, partitions: 4);
        var worker = fixture.Grains.GetGrain<IWorkerGrain>($"{queue}/w");
        await worker.StartAsync(new WorkerSettings(16, 1));
        try
        {
            var partitions = GrainActivityProbe.Grain(SchedulerType, k => k.StartsWith(queue + "/", StringComparison.Ordinal));
            await RunAsync(16);
            var woken = probe.ActivationsCreated(partitions);
            Assert.True(woken >= 2, $"{woken} partitions ran tasks");

            var clock = Stopwatch.StartNew();
            await WaitUntilAsync("the idle partitions to retire", () => Task.FromResult(probe.LiveActivations(partitions) == 0 && probe.LiveTimers(partitions) == 0));
            output.WriteLine($"{woken} partition activations ran 16 tasks; all retired {clock.Elapsed.TotalSeconds:F1} s after the last finished (idle timeout 1 s), timers alive {probe.LiveTimers(partitions)}");
            Assert.Empty((await _tasks.GetQueueAsync(queue)).ActivePartitions);

            // New work wakes them again.
            await RunAsync(8);
            Assert.True(probe.ActivationsCreated(partitions) > woken);
        }
        finally
        {
            await worker.StopAsync();
        }

        async Task RunAsync(int count)
        {
            var submitted = await Task.WhenAll(Enumerable.Range(0, count).Select(i => _tasks.SubmitAsync(new TaskSubmission("add", $"[{i}, 1]") { Queue = queue, Key = "k" + i })));
            var done = await Task.WhenAll(submitted.Select(t => _tasks.WaitAsync(t.Id, Wait)));
            Assert.All(done, t => Assert.Equal(TaskState.Succeeded, t.State));
        }
    }

    [Fact]
    public async Task A_periodic_task_keeps_one_timer_however_often_it_is_replaced_and_none_once_removed()
    {
        using var probe = new GrainActivityProbe();
        var name = "p-" + Guid.NewGuid().ToString("N")[..8];
        var periodic = GrainActivityProbe.Grain(PeriodicType, k => k == name);
        for (var i = 0; i < 5; i++)
        {
            // New Year's midnight: never due while the test runs.
            await _tasks.ScheduleAsync(name, "0 0 1 1 *", new TaskSubmission("add", $"[{i}, 1]"));
        }

        output.WriteLine($"after 5 schedules: timers created {probe.TimersCreated(periodic)}, alive {probe.LiveTimers(periodic)}");
        Assert.Equal(1, probe.LiveTimers(periodic));
        Assert.Equal(1, probe.TimersCreated(periodic));

        await _tasks.RemovePeriodicAsync(name);
        await WaitUntilAsync("the removed periodic task's timer and activation to go", () => Task.FromResult(probe.LiveTimers(periodic) == 0 && probe.LiveActivations(periodic) == 0));
        Assert.DoesNotContain(name, await Directory.GetPeriodicsAsync());

        // Read after removal: the record is there, and reading it starts no timer.
        var removed = await _tasks.GetPeriodicAsync(name);
        Assert.False(removed.Enabled);
        Assert.Equal(0, probe.LiveTimers(periodic));
    }

    [Fact]
    public async Task A_periodic_template_is_checked_by_the_submission_rules_when_it_is_added()
    {
        using var probe = new GrainActivityProbe();
        var name = "bad-" + Guid.NewGuid().ToString("N")[..8];
        var valid = new TaskSubmission("add", "[1, 2]");
        Assert.Equal("maxRetries", (await Assert.ThrowsAsync<TaskRejectedException>(() => _tasks.ScheduleAsync(name, "* * * * *", valid with { MaxRetries = 1000 }))).Parameter);
        Assert.Equal("queue", (await Assert.ThrowsAsync<TaskRejectedException>(() => _tasks.ScheduleAsync(name, "* * * * *", valid with { Queue = "a/b" }))).Parameter);
        Assert.Equal("eta", (await Assert.ThrowsAsync<TaskRejectedException>(() => _tasks.ScheduleAsync(name, "* * * * *", valid with { Eta = new DateTimeOffset(9999, 12, 31, 0, 0, 0, TimeSpan.Zero) }))).Parameter);
        Assert.Equal("type", (await Assert.ThrowsAsync<TaskRejectedException>(() => _tasks.ScheduleAsync(name, "* * * * *", valid with { Type = "no-such-task" }))).Parameter);
        await Assert.ThrowsAsync<TaskQueueNotFoundException>(() => _tasks.ScheduleAsync(name, "* * * * *", valid with { Queue = "nobody-declared-" + name }));

        // February 30th never comes.
        var never = await Assert.ThrowsAsync<TaskRejectedException>(() => _tasks.ScheduleAsync(name, "0 0 30 2 *", valid));
        output.WriteLine(never.Message);
        Assert.Equal("cron", never.Parameter);

        await Assert.ThrowsAsync<TaskNotFoundException>(() => _tasks.GetPeriodicAsync(name));
        Assert.DoesNotContain(name, await Directory.GetPeriodicsAsync());
        Assert.Equal(0, probe.TimersCreated(GrainActivityProbe.Grain(PeriodicType, k => k == name)));

        // Leap day comes within the horizon, and the valid template is accepted.
        var leap = await _tasks.ScheduleAsync(name, "0 0 29 2 *", valid);
        Assert.True(leap.NextTick is { Month: 2, Day: 29 }, $"next tick {leap.NextTick:O}");
        await _tasks.RemovePeriodicAsync(name);
    }

    [Fact]
    public async Task An_eta_beyond_the_delay_cap_is_refused_like_such_a_delay()
    {
        var now = DateTimeOffset.UtcNow;
        var id = "eta-" + Guid.NewGuid().ToString("N");
        var add = new TaskSubmission("add", "[1, 2]");
        Assert.Equal("eta", (await Assert.ThrowsAsync<TaskRejectedException>(() => _tasks.SubmitWithIdAsync(id, add with { Eta = new DateTimeOffset(9999, 12, 31, 0, 0, 0, TimeSpan.Zero) }))).Parameter);
        Assert.Equal("eta", (await Assert.ThrowsAsync<TaskRejectedException>(() => _tasks.SubmitWithIdAsync(id, add with { Eta = now + Limits.Scheduling.MaxDelay + TimeSpan.FromDays(1) }))).Parameter);
        Assert.Equal("delay", (await Assert.ThrowsAsync<TaskRejectedException>(() => _tasks.SubmitWithIdAsync(id, add with { Delay = Limits.Scheduling.MaxDelay + TimeSpan.FromDays(1) }))).Parameter);
        await Assert.ThrowsAsync<TaskNotFoundException>(() => _tasks.GetAsync(id));

        var later = await _tasks.SubmitWithIdAsync(id, add with { Eta = now + Limits.Scheduling.MaxDelay - TimeSpan.FromDays(1) });
        Assert.Equal(TaskState.Scheduled, later.State);
        Assert.Equal(TaskState.Cancelled, (await _tasks.CancelAsync(id)).State);
    }

    [Fact]
    public async Task Chain_steps_and_workflow_members_are_checked_before_anything_is_stored()
    {
        var add = new TaskSubmission("add", "[1, 2]");
        var badStep = await Assert.ThrowsAsync<TaskRejectedException>(() => _tasks.ChainAsync([add, new TaskSubmission("multiply", "[2]") { MaxRetries = 1000 }]));
        Assert.Equal("maxRetries", badStep.Parameter);
        await Assert.ThrowsAsync<TaskQueueNotFoundException>(() => _tasks.ChainAsync([add, new TaskSubmission("multiply", "[2]") { Queue = "nobody-declared-step" }]));

        var group = "g-" + Guid.NewGuid().ToString("N")[..8];
        await Assert.ThrowsAsync<TaskQueueNotFoundException>(() => _tasks.GroupAsync([add, add with { Queue = "nobody-declared-member" }], group));
        await Assert.ThrowsAsync<TaskNotFoundException>(() => _tasks.GetWorkflowAsync(group));
        await Assert.ThrowsAsync<TaskNotFoundException>(() => _tasks.GetAsync(group + ".0"));
        var chord = "c-" + Guid.NewGuid().ToString("N")[..8];
        Assert.Equal("maxRetries", (await Assert.ThrowsAsync<TaskRejectedException>(() => _tasks.ChordAsync([add], new TaskSubmission("xsum", "[]") { MaxRetries = -1 }, chord))).Parameter);
        await Assert.ThrowsAsync<TaskNotFoundException>(() => _tasks.GetWorkflowAsync(chord));
    }

    private static Func<GrainId, bool> IsQueue(string queue) => GrainActivityProbe.Grain(QueueType, k => k == queue);

    private static Task WaitUntilAsync(string what, Func<Task<bool>> condition) => Eventually.TrueAsync(what, condition, Wait);

    /// <summary>Two in-process silos with memory storage; scheduler partitions retire after 1 s idle.</summary>
    public sealed class Fixture : GranaryTestClusterFixture
    {
        /// <inheritdoc/>
        protected override Task ConfigureAsync(TestClusterBuilder builder)
        {
            ArgumentNullException.ThrowIfNull(builder);
            builder.Options.InitialSilosCount = 2;
            builder.Properties["Granary:Storage:Mode"] = "Memory";
            builder.Properties["Granary:Scheduling:SchedulerIdleTimeout"] = "00:00:01";
            return Task.CompletedTask;
        }
    }
}
