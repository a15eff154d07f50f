using System.Collections.Concurrent;
using Granary.Client.Scheduling;
using Granary.Scheduling;
using Granary.Server.Storage;
using Granary.Tests.Cluster.Infrastructure;
using Microsoft.Extensions.DependencyInjection;
using Orleans.Storage;
using Orleans.TestingHost;
using Xunit.Abstractions;

namespace Granary.Tests.Cluster.Scheduling;

/// <summary>
/// Faults a silo loss brings to the survivors, injected one at a time on a one-silo cluster:
/// <list type="bullet">
/// <item>A task record's write fails (the error a lost database connection gives). The task grain
/// must not go on from a change storage does not hold: a failed claim must not leave the task
/// "running" with no one running it, and a failed acknowledgement must not let a client read a
/// result that storage does not have.</item>
/// <item>A worker's "done" notice to the scheduler is lost (while a dead silo's grain directory
/// partition is being taken over, calls fail for a few seconds). The scheduler must not keep
/// counting those runs against the worker's slots, or the partition stops dispatching for good.</item>
/// </list>
/// </summary>
public sealed class SchedulingFaultInjectionTests(SchedulingFaultInjectionTests.Fixture fixture, ITestOutputHelper output) : IClassFixture<SchedulingFaultInjectionTests.Fixture>
{
    private const string StateName = "task-record";
    private static readonly TimeSpan Wait = TimeSpan.FromSeconds(30);
    private readonly TaskClient _tasks = new(fixture.Grains);

    [Fact]
    public async Task A_claim_whose_write_fails_leaves_the_task_waiting_and_it_runs_once_later()
    {
        var task = await _tasks.SubmitAsync(new TaskSubmission("add", "[40, 2]") { Eta = DateTimeOffset.UtcNow.AddSeconds(2) });
        Assert.Equal(TaskState.Scheduled, task.State);
        fixture.Storage.FailNextWrite(IdOf(task.Id));

        // The first dispatch's claim is not stored; the task must come back and run.
        var done = await _tasks.WaitAsync(task.Id, Wait);
        output.WriteLine($"{task.Id}: {TaskTransitions.ToName(done.State)}, attempts {done.Attempts}, result {done.Result}; injected failures {fixture.Storage.Injected}");
        Assert.Equal(1, fixture.Storage.InjectedFor(IdOf(task.Id)));
        Assert.Equal(TaskState.Succeeded, done.State);
        Assert.Equal("42", done.Result);
        Assert.Equal(1, done.Attempts);
        Assert.Equal(TaskState.Succeeded, (await ReadRowAsync(task.Id)).State);
    }

    [Fact]
    public async Task An_acknowledgement_whose_write_fails_is_retried_and_the_result_a_client_reads_is_stored()
    {
        var task = await _tasks.SubmitAsync(new TaskSubmission("sleep", "[1500]"));
        await Eventually.TrueAsync("the task running", async () => (await _tasks.GetAsync(task.Id)).State == TaskState.Running, Wait);

        fixture.Storage.FailNextWrite(IdOf(task.Id));
        var done = await _tasks.WaitAsync(task.Id, Wait);
        var row = await ReadRowAsync(task.Id);
        output.WriteLine($"{task.Id}: client reads {TaskTransitions.ToName(done.State)} (attempts {done.Attempts}); storage holds {TaskTransitions.ToName(row.State)} (attempts {row.Attempts})");
        Assert.Equal(1, fixture.Storage.InjectedFor(IdOf(task.Id)));
        Assert.Equal(TaskState.Succeeded, done.State);
        Assert.Equal(TaskState.Succeeded, row.State);
        Assert.Equal("1500", row.Result);
        Assert.Equal(1, row.Attempts);
    }

    [Fact]
    public async Task Runs_whose_done_notice_was_lost_do_not_keep_holding_the_workers_slots()
    {
        const int Slots = 2;
        var queue = "lost-done-" + Guid.NewGuid().ToString("N")[..8];
        await _tasks.ConfigureQueueAsync(queue, new QueueSettings("least-connections", 1));
        var worker = fixture.Grains.GetGrain<IWorkerGrain>(queue + "/only");
        await worker.StartAsync(new WorkerSettings(Slots, 1));
        try
        {
            // Fill every slot with runs whose "done" notice never reaches the scheduler.
            fixture.Calls.Drop(nameof(ISchedulerGrain.WorkerDoneAsync));
            var first = await Task.WhenAll(Enumerable.Range(0, Slots).Select(i => _tasks.SubmitAsync(new TaskSubmission("add", $"[{i}, 1]") { Queue = queue })));
            var firstDone = await Task.WhenAll(first.Select(t => _tasks.WaitAsync(t.Id, Wait)));
            Assert.All(firstDone, t => Assert.Equal(TaskState.Succeeded, t.State));
            // The notice follows the acknowledgement that made the task terminal.
            await Eventually.TrueAsync($"{Slots} done notices sent", () => fixture.Calls.Dropped >= Slots, Wait);

            fixture.Calls.Drop(null);

            // The worker is idle: the next tasks must run.
            var second = await Task.WhenAll(Enumerable.Range(0, Slots).Select(i => _tasks.SubmitAsync(new TaskSubmission("add", $"[{i}, 2]") { Queue = queue })));
            var secondDone = await Task.WhenAll(second.Select(t => _tasks.WaitAsync(t.Id, Wait)));
            output.WriteLine($"after {fixture.Calls.Dropped} lost done notices: {string.Join(", ", secondDone.Select(t => $"{t.Id} {TaskTransitions.ToName(t.State)}"))}");
            Assert.All(secondDone, t => Assert.Equal(TaskState.Succeeded, t.State));
        }
        finally
        {
            fixture.Calls.Drop(null);
            await worker.StopAsync();
        }
    }

    private static GrainId IdOf(string taskId) => GrainId.Create("granary.scheduling.task", taskId);

    private async Task<TaskGrainState> ReadRowAsync(string taskId)
    {
        var row = new GrainState<TaskGrainState>();
        await fixture.Storage.ReadStateAsync(StateName, IdOf(taskId), row);
        return row.State ?? throw new InvalidOperationException($"task {taskId} has no stored row");
    }

    /// <summary>One in-process silo whose default grain storage can be told to fail a grain's next write, and whose grains' calls of a given method can be made to fail.</summary>
    public sealed class Fixture : GranaryTestClusterFixture
    {
        /// <summary>The silo's default storage.</summary>
        public FaultInjectingStorage Storage => ((InProcessSiloHandle)Cluster.Silos[0]).SiloHost.Services.GetRequiredService<FaultInjectingStorage>();

        /// <summary>The silo's outgoing grain calls.</summary>
        public CallDropper Calls => ((InProcessSiloHandle)Cluster.Silos[0]).SiloHost.Services.GetRequiredService<CallDropper>();

        /// <inheritdoc/>
        protected override Task ConfigureAsync(TestClusterBuilder builder)
        {
            ArgumentNullException.ThrowIfNull(builder);
            builder.Options.InitialSilosCount = 1;
            builder.Properties["Granary:Storage:Mode"] = "Memory";
            builder.AddSiloBuilderConfigurator<FaultInjectingStorage.Configurator>();
            builder.AddSiloBuilderConfigurator<CallDropper.Configurator>();
            return Task.CompletedTask;
        }
    }

    /// <summary>Memory storage that fails a grain's next write when told to, before storing anything.</summary>
    public sealed class FaultInjectingStorage(IGrainStorage inner) : IGrainStorage
    {
        private const string InnerName = "fault-injection-inner";
        private readonly ConcurrentDictionary<GrainId, bool> _armed = new();
        private readonly ConcurrentDictionary<GrainId, int> _injected = new();

        /// <summary>Failures injected so far.</summary>
        public int Injected => _injected.Values.Sum();

        /// <summary>Failures injected into <paramref name="grain"/>'s writes.</summary>
        public int InjectedFor(GrainId grain) => _injected.GetValueOrDefault(grain);

        /// <summary>The next write of <paramref name="grain"/> fails.</summary>
        public void FailNextWrite(GrainId grain) => _armed[grain] = true;

        /// <inheritdoc/>
        public Task ReadStateAsync<T>(string stateName, GrainId grainId, IGrainState<T> grainState) => inner.ReadStateAsync(stateName, grainId, grainState);

        /// <inheritdoc/>
        public Task WriteStateAsync<T>(string stateName, GrainId grainId, IGrainState<T> grainState)
        {
            if (_armed.TryRemove(grainId, out _))
            {
                _injected.AddOrUpdate(grainId, 1, (_, n) => n + 1);
                throw new IOException("injected: the connection to the database was lost");
            }

            return inner.WriteStateAsync(stateName, grainId, grainState);
        }

        /// <inheritdoc/>
        public Task ClearStateAsync<T>(string stateName, GrainId grainId, IGrainState<T> grainState) => inner.ClearStateAsync(stateName, grainId, grainState);

        /// <summary>Puts the storage in front of the silo's memory storage under Granary's default name.</summary>
        public sealed class Configurator : ISiloConfigurator
        {
            /// <inheritdoc/>
            public void Configure(ISiloBuilder siloBuilder)
            {
                ArgumentNullException.ThrowIfNull(siloBuilder);
                siloBuilder.AddMemoryGrainStorage(InnerName);
                siloBuilder.Services.AddSingleton(sp => new FaultInjectingStorage(sp.GetRequiredKeyedService<IGrainStorage>(InnerName)));
                siloBuilder.Services.AddKeyedSingleton<IGrainStorage>(StorageNames.Default, (sp, _) => sp.GetRequiredService<FaultInjectingStorage>());
            }
        }
    }

    /// <summary>Fails every grain call a silo's grains make to the method it is told to drop, as a call to an unreachable silo fails.</summary>
    public sealed class CallDropper
    {
        private volatile string? _method;
        private int _dropped;

        /// <summary>Calls dropped so far.</summary>
        public int Dropped => Volatile.Read(ref _dropped);

        /// <summary>Drops calls of <paramref name="method"/> from now on; null drops none.</summary>
        public void Drop(string? method) => _method = method;

        /// <summary>Installs the dropper as an outgoing grain call filter.</summary>
        public sealed class Configurator : ISiloConfigurator
        {
            /// <inheritdoc/>
            public void Configure(ISiloBuilder siloBuilder)
            {
                ArgumentNullException.ThrowIfNull(siloBuilder);
                var dropper = new CallDropper();
                siloBuilder.Services.AddSingleton(dropper);
                siloBuilder.AddOutgoingGrainCallFilter(context =>
                    string.Equals(context.InterfaceMethod.Name, dropper._method, StringComparison.Ordinal)
                        ? Task.FromException(new SiloUnavailableException($"injected: {context.InterfaceMethod.Name} did not reach its grain ({Interlocked.Increment(ref dropper._dropped)} dropped)"))
                        : context.Invoke());
            }
        }
    }
}
