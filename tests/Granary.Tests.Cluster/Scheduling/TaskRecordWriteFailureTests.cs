using System.Collections.Concurrent;
using System.Diagnostics;
using Granary.Hosting.Storage;
using Granary.Scheduling;
using Granary.Sdk.Scheduling;
using Granary.Tests.Cluster.Infrastructure;
using Microsoft.Extensions.DependencyInjection;
using Orleans.Storage;
using Orleans.TestingHost;
using Xunit.Abstractions;

namespace Granary.Tests.Cluster.Scheduling;

/// <summary>
/// A task record's write fails (storage injects the error a lost database connection gives). The
/// task grain must not go on from a change storage does not hold: a failed claim must not leave the
/// task "running" with no one running it, and a failed acknowledgement must not let a client read a
/// result that storage does not have.
/// </summary>
public sealed class TaskRecordWriteFailureTests(TaskRecordWriteFailureTests.Fixture fixture, ITestOutputHelper output) : IClassFixture<TaskRecordWriteFailureTests.Fixture>
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
        var clock = Stopwatch.StartNew();
        while ((await _tasks.GetAsync(task.Id)).State != TaskState.Running)
        {
            Assert.True(clock.Elapsed < Wait, "the task never started");
            await Task.Delay(20); // poll interval; bounded by the deadline asserted above
        }

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

    private static GrainId IdOf(string taskId) => GrainId.Create("granary.scheduling.task", taskId);

    private async Task<TaskGrainState> ReadRowAsync(string taskId)
    {
        var row = new GrainState<TaskGrainState>();
        await fixture.Storage.ReadStateAsync(StateName, IdOf(taskId), row);
        return row.State ?? throw new InvalidOperationException($"task {taskId} has no stored row");
    }

    /// <summary>One in-process silo whose default grain storage can be told to fail a grain's next write.</summary>
    public sealed class Fixture : GranaryTestClusterFixture
    {
        /// <summary>The silo's default storage.</summary>
        public FaultInjectingStorage Storage => ((InProcessSiloHandle)Cluster.Silos[0]).SiloHost.Services.GetRequiredService<FaultInjectingStorage>();

        /// <inheritdoc/>
        protected override Task ConfigureAsync(TestClusterBuilder builder)
        {
            ArgumentNullException.ThrowIfNull(builder);
            builder.Options.InitialSilosCount = 1;
            builder.Properties["Granary:Storage:Mode"] = "Memory";
            builder.AddSiloBuilderConfigurator<FaultInjectingStorage.Configurator>();
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
}
