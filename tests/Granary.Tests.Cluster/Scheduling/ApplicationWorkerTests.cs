using System.Collections.Concurrent;
using System.Diagnostics;
using System.Text.Json;
using System.Text.Json.Serialization;
using Granary.Client;
using Granary.Client.DependencyInjection;
using Granary.Client.Queues;
using Granary.Client.Scheduling;
using Granary.Queues;
using Granary.Scheduling;
using Granary.Server;
using Granary.Tests.Cluster.Infrastructure;
using Granary.Threading;
using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.Hosting;
using Orleans.Configuration;
using Orleans.TestingHost;
using Xunit.Abstractions;

namespace Granary.Tests.Cluster.Scheduling;

/// <summary>
/// Task handlers and queue consumers an application runs in its own process: a second host (an Orleans
/// client, as the application is) registers them with <c>AddTaskHandler</c>, <c>AddGranaryWorker</c> and
/// <c>AddQueueConsumer</c>, and tasks and messages sent by the cluster's client run there under the
/// cluster's own lease, retry, dead-letter and acknowledgement rules.
/// </summary>
public sealed class ApplicationWorkerTests(ApplicationWorkerTests.Fixture fixture, ITestOutputHelper output) : IClassFixture<ApplicationWorkerTests.Fixture>
{
    /// <summary>The lease the fixture's silos give a task: a stopped worker's task runs again this long after its last renewal.</summary>
    private static readonly TimeSpan Lease = TimeSpan.FromSeconds(2);
    private static readonly TimeSpan Wait = TimeSpan.FromSeconds(30);
    private readonly TaskClient _tasks = new(fixture.Grains);

    [Fact]
    public async Task A_typed_handler_in_a_separate_host_runs_submitted_tasks_and_its_result_round_trips()
    {
        var queue = Name("typed");
        await using var worker = await fixture.StartWorkerAsync(services => services
            .AddTaskHandler<SumHandler, SumArgs, SumResult>("app-sum", WorkerTestJson.Default.SumArgs, WorkerTestJson.Default.SumResult)
            .AddTaskHandler("app-upper", (string text, CancellationToken _) => ValueTask.FromResult(text.ToUpperInvariant()), WorkerTestJson.Default.String, WorkerTestJson.Default.String)
            .AddGranaryWorker(queue, concurrency: 2, o => o.Name = "typed-1"));
        await WaitForWorkerAsync(queue);

        var sum = await _tasks.SubmitAsync(new TaskSubmission("app-sum", JsonSerializer.Serialize(new SumArgs([1, 2, 39]), WorkerTestJson.Default.SumArgs)) { Queue = queue });
        var upper = await _tasks.SubmitAsync(new TaskSubmission("app-upper", "\"granary\"") { Queue = queue });
        var summed = await _tasks.WaitAsync(sum.Id, Wait);
        var uppered = await _tasks.WaitAsync(upper.Id, Wait);

        output.WriteLine($"{summed.State} {summed.Result} on {summed.Worker}; {uppered.State} {uppered.Result}");
        Assert.Equal(TaskState.Succeeded, summed.State);
        Assert.Equal(new SumResult(42, 3), JsonSerializer.Deserialize(summed.Result!, WorkerTestJson.Default.SumResult));
        Assert.Equal($"{queue}/typed-1", summed.Worker);
        Assert.Equal(TaskState.Succeeded, uppered.State);
        Assert.Equal("GRANARY", JsonSerializer.Deserialize(uppered.Result!, WorkerTestJson.Default.String));

        // The queue knows the worker's types from its registration, so a type nobody serves is refused up front.
        Assert.Equal(["app-sum", "app-upper"], await fixture.Grains.GetGrain<Granary.Scheduling.IQueueGrain>(queue).GetTaskTypesAsync());
        var refused = await Assert.ThrowsAsync<TaskRejectedException>(() => _tasks.SubmitAsync(new TaskSubmission("app-nobody", "{}") { Queue = queue }));
        Assert.Equal("type", refused.Parameter);
        Assert.Contains("app-sum", refused.Message, StringComparison.Ordinal);

        // Arguments that do not read as the handler's type fail the task at once, with the reason.
        var bad = await _tasks.SubmitAsync(new TaskSubmission("app-sum", "{\"numbers\": \"many\"}") { Queue = queue, MaxRetries = 3 });
        var badInfo = await _tasks.WaitAsync(bad.Id, Wait);
        output.WriteLine($"bad arguments: {badInfo.State} after {badInfo.Attempts} attempt(s): {badInfo.Error}");
        Assert.Equal(TaskState.Failed, badInfo.State);
        Assert.Equal(1, badInfo.Attempts);
        Assert.Contains("SumArgs", badInfo.Error, StringComparison.Ordinal);
    }

    [Fact]
    public async Task A_production_silo_runs_no_task_code_of_its_own_and_an_application_worker_serves_even_a_demo_type()
    {
        // The fixture's silos have production settings: no demonstration handlers.
        foreach (var silo in fixture.Cluster.Silos.OfType<InProcessSiloHandle>())
        {
            Assert.Empty(silo.SiloHost.Services.GetRequiredService<Granary.Scheduling.Handlers.TaskHandlerRegistry>().Handlers);
        }

        // The configured queue exists, but nothing serves `add` there: refused before anything is stored.
        var refused = await Assert.ThrowsAsync<TaskRejectedException>(() => _tasks.SubmitAsync(new TaskSubmission("add", "[2, 3]")));
        Assert.Equal("type", refused.Parameter);

        await using var worker = await fixture.StartWorkerAsync(services => services
            .AddTaskHandler("add", (decimal[] xy, CancellationToken _) => ValueTask.FromResult(xy.Sum()), WorkerTestJson.Default.DecimalArray, WorkerTestJson.Default.Decimal)
            .AddGranaryWorker(SchedulingDefaults.Queue, concurrency: 1, o => o.Name = "adder"));
        await WaitForWorkerAsync(SchedulingDefaults.Queue);

        var task = await _tasks.SubmitAsync(new TaskSubmission("add", "[2, 3]"));
        var done = await _tasks.WaitAsync(task.Id, Wait);
        Assert.Equal(TaskState.Succeeded, done.State);
        Assert.Equal("5", done.Result);

        // The silos' keepers have ticked many times by now (every 2 s since start): the only worker is the application's.
        Assert.Equal([$"{SchedulingDefaults.Queue}/adder"], (await _tasks.WorkersAsync()).Select(w => w.Id));
    }

    [Fact]
    public async Task A_task_type_no_worker_declared_is_refused_before_anything_is_stored()
    {
        var queue = Name("undeclared-type");
        await _tasks.DeclareQueueAsync(queue);
        var id = "t-" + Guid.NewGuid().ToString("N");

        var refused = await Assert.ThrowsAsync<TaskRejectedException>(() => _tasks.SubmitWithIdAsync(id, new TaskSubmission("app-sum", "{}") { Queue = queue }));

        Assert.Equal("type", refused.Parameter);
        await Assert.ThrowsAsync<TaskNotFoundException>(() => _tasks.GetAsync(id));
        Assert.Empty(await fixture.Grains.GetGrain<Granary.Scheduling.IQueueGrain>(queue).GetTaskTypesAsync());
    }

    [Fact]
    public async Task A_handler_that_throws_is_retried_with_backoff_then_dead_lettered()
    {
        var queue = Name("failing");
        var attempts = new ConcurrentQueue<long>();
        await using var worker = await fixture.StartWorkerAsync(services => services
            .AddTaskHandler<SumArgs, SumResult>("app-broken", async (_, _) =>
            {
                attempts.Enqueue(Stopwatch.GetTimestamp());
                await Task.Yield();
                throw new InvalidOperationException("the oven is cold");
            }, WorkerTestJson.Default.SumArgs, WorkerTestJson.Default.SumResult)
            .AddGranaryWorker(queue, concurrency: 1));
        await WaitForWorkerAsync(queue);
        var backoff = TimeSpan.FromMilliseconds(200);

        var task = await _tasks.SubmitAsync(new TaskSubmission("app-broken", "{\"numbers\": [1]}") { Queue = queue, MaxRetries = 2, BackoffBase = backoff, BackoffCap = backoff });
        var info = await _tasks.WaitAsync(task.Id, Wait);

        output.WriteLine($"{info.State} after {info.Attempts} attempts: {info.Error}");
        Assert.Equal(TaskState.DeadLettered, info.State);
        Assert.Equal(3, info.Attempts);
        Assert.Equal(3, attempts.Count);
        Assert.Contains("the oven is cold", info.Error, StringComparison.Ordinal);
        await Eventually.TrueAsync("the task listed in its queue's dead letters", async () => (await _tasks.DeadLettersAsync(queue)).Any(d => d.TaskId == task.Id), Wait);
    }

    [Fact]
    public async Task A_worker_never_runs_more_tasks_at_once_than_its_concurrency()
    {
        const int Concurrency = 3;
        const int Count = 12;
        var queue = Name("bounded");
        var running = 0;
        var most = 0L;
        await using var worker = await fixture.StartWorkerAsync(services => services
            .AddTaskHandler("app-slow", async (SumArgs args, CancellationToken ct) =>
            {
                var now = Interlocked.Increment(ref running);
                AtomicMax.Raise(ref most, now);
                try
                {
                    await Task.Delay(150, ct); // the work being simulated: a handler that takes a while
                    return new SumResult(args.Numbers.Sum(), args.Numbers.Length);
                }
                finally
                {
                    Interlocked.Decrement(ref running);
                }
            }, WorkerTestJson.Default.SumArgs, WorkerTestJson.Default.SumResult)
            .AddGranaryWorker(queue, Concurrency));
        await WaitForWorkerAsync(queue);

        var submitted = await Task.WhenAll(Enumerable.Range(0, Count).Select(i =>
            _tasks.SubmitAsync(new TaskSubmission("app-slow", $"{{\"numbers\": [{i}]}}") { Queue = queue })));
        var done = await Task.WhenAll(submitted.Select(t => _tasks.WaitAsync(t.Id, Wait)));

        output.WriteLine($"most at once: {most} (concurrency {Concurrency})");
        Assert.All(done, t => Assert.Equal(TaskState.Succeeded, t.State));
        Assert.InRange(most, 2, Concurrency);
    }

    [Fact]
    public async Task A_task_of_a_stopped_worker_runs_again_on_another_worker_once_its_lease_expires()
    {
        var queue = Name("handover");
        var startedOnA = new TaskCompletionSource(TaskCreationOptions.RunContinuationsAsynchronously);
        long abandonedAt = 0;
        long startedOnBAt = 0;
        var workerA = await fixture.StartWorkerAsync(
            services => services
                .AddTaskHandler("app-long", async (SumArgs _, CancellationToken ct) =>
                {
                    startedOnA.TrySetResult();
                    try
                    {
                        await Task.Delay(Timeout.Infinite, ct); // runs until the worker gives it up
                    }
                    finally
                    {
                        Interlocked.Exchange(ref abandonedAt, Stopwatch.GetTimestamp());
                    }

                    return new SumResult(-1, -1);
                }, WorkerTestJson.Default.SumArgs, WorkerTestJson.Default.SumResult)
                .AddGranaryWorker(queue, concurrency: 1, o => o.Name = "a"),
            shutdownTimeout: TimeSpan.FromMilliseconds(300));
        await WaitForWorkerAsync(queue);

        var task = await _tasks.SubmitAsync(new TaskSubmission("app-long", "{\"numbers\": [7]}") { Queue = queue, MaxRetries = 0 });
        await startedOnA.Task.WaitAsync(Wait);
        Assert.Equal(TaskState.Running, (await _tasks.GetAsync(task.Id)).State);

        await using var workerB = await fixture.StartWorkerAsync(services => services
            .AddTaskHandler("app-long", (SumArgs args, CancellationToken _) =>
            {
                Interlocked.Exchange(ref startedOnBAt, Stopwatch.GetTimestamp());
                return ValueTask.FromResult(new SumResult(args.Numbers.Sum(), 2));
            }, WorkerTestJson.Default.SumArgs, WorkerTestJson.Default.SumResult)
            .AddGranaryWorker(queue, concurrency: 1, o => o.Name = "b"));
        var stopped = Stopwatch.StartNew();
        await workerA.DisposeAsync();

        // A's stop gave up the handler without acknowledging; the lease runs out, then B runs it.
        var info = await _tasks.WaitAsync(task.Id, Lease + Wait);
        output.WriteLine($"{info.State} on {info.Worker} {stopped.ElapsedMilliseconds} ms after A stopped; redeliveries {info.Redeliveries}, attempts {info.Attempts}");
        Assert.Equal(TaskState.Succeeded, info.State);
        Assert.Equal($"{queue}/b", info.Worker);
        Assert.Equal(new SumResult(7, 2), JsonSerializer.Deserialize(info.Result!, WorkerTestJson.Default.SumResult));
        Assert.Equal(1, info.Redeliveries);
        Assert.NotEqual(0, Interlocked.Read(ref abandonedAt));
        Assert.True(Interlocked.Read(ref startedOnBAt) > Interlocked.Read(ref abandonedAt), "B started the task before A had given it up");
    }

    [Fact]
    public async Task A_queue_consumer_acks_on_success_nacks_with_backoff_on_exception_and_bounds_its_concurrency()
    {
        const int Concurrency = 2;
        var queue = Name("orders");
        var queues = new QueueClient(fixture.Grains);
        await queues.CreateAsync(queue, new QueueDefinition(Partitions: 2));
        var consumer = new ConsumerProbe();
        var backoff = TimeSpan.FromMilliseconds(400);
        await using var host = await fixture.StartWorkerAsync(services => services
            .AddSingleton(consumer)
            .AddQueueConsumer<OrderConsumer, OrderMessage>(queue, WorkerTestJson.Default.OrderMessage, Concurrency, o =>
            {
                o.BackoffBase = backoff;
                o.BackoffCap = backoff;
                o.Jitter = false;
                o.PollWait = TimeSpan.FromSeconds(1);
            }));

        var orders = Enumerable.Range(1, 8).Select(i => new OrderMessage($"o{i}", FailFirst: i == 3)).ToList();
        foreach (var order in orders)
        {
            await queues.EnqueueAsync(queue, new QueueMessageInput(JsonSerializer.SerializeToUtf8Bytes(order, WorkerTestJson.Default.OrderMessage), Id: order.Id));
        }

        await Eventually.TrueAsync("every order handled successfully", () => orders.All(o => consumer.Succeeded.ContainsKey(o.Id)), Wait);
        var stats = await Eventually.ValueAsync("the queue empty (every message acked)", () => queues.StatsAsync(queue), s => s.Depth == 0 && s.InFlight == 0, Wait);

        var deliveries = consumer.Deliveries["o3"].ToList();
        var gap = Stopwatch.GetElapsedTime(deliveries[0], deliveries[1]);
        output.WriteLine($"o3 delivered {deliveries.Count} times, {gap.TotalMilliseconds:F0} ms apart; most at once {consumer.Most}; depth {stats.Depth}");
        Assert.Equal(2, deliveries.Count);
        Assert.True(gap >= backoff, $"redelivered after {gap.TotalMilliseconds:F0} ms, before the {backoff.TotalMilliseconds:F0} ms backoff");
        Assert.All(orders.Where(o => !o.FailFirst), o => Assert.Single(consumer.Deliveries[o.Id]));
        Assert.Equal(0, stats.DeadLettered);
        Assert.InRange(consumer.Most, 1, Concurrency);
    }

    private static string Name(string what) => $"app-{what}-{Guid.NewGuid().ToString("N")[..8]}";


    /// <summary>The host starts its worker in the background: wait until the queue lists it.</summary>
    private async Task WaitForWorkerAsync(string queue) =>
        await Eventually.SucceedsAsync(
            $"a worker of '{queue}' registered",
            async () => Assert.NotEmpty(await _tasks.WorkersAsync(queue)),
            Wait);

    /// <summary>Two in-process silos over TCP (so a second host can connect as a client does) with short task leases and no demonstration handlers, as in production.</summary>
    public sealed class Fixture : GranaryTestClusterFixture
    {
        /// <inheritdoc/>
        protected override short InitialSilos => 2;

        /// <summary>Builds and starts a host that is an Orleans client of this cluster, with <paramref name="configure"/>'s services; disposing it stops it as a host's shutdown does.</summary>
        public async Task<WorkerHost> StartWorkerAsync(Action<IServiceCollection> configure, TimeSpan? shutdownTimeout = null)
        {
            ArgumentNullException.ThrowIfNull(configure);
            var builder = Host.CreateApplicationBuilder();
            var gateways = Cluster.Silos.Select(s => s.GatewayAddress.Endpoint).ToArray();
            builder.UseOrleansClient(client => client
                .UseStaticClustering(gateways)
                .Configure<ClusterOptions>(o =>
                {
                    o.ServiceId = Cluster.Options.ServiceId;
                    o.ClusterId = Cluster.Options.ClusterId;
                })
                .AddGranaryClientLimits());
            builder.Services.Configure<HostOptions>(o => o.ShutdownTimeout = shutdownTimeout ?? TimeSpan.FromSeconds(5));
            configure(builder.Services);
            var host = builder.Build();
            await host.StartAsync();
            return new WorkerHost(host);
        }

        /// <inheritdoc/>
        protected override Task ConfigureAsync(TestClusterBuilder builder)
        {
            ArgumentNullException.ThrowIfNull(builder);
            builder.Options.ConnectionTransport = ConnectionTransportType.TcpSocket;
            builder.Properties["Granary:Storage:Mode"] = "Memory";
            builder.Properties["Granary:Scheduling:LeaseTimeout"] = Lease.ToString();
            builder.Properties["Granary:Scheduling:HeartbeatInterval"] = "00:00:00.400";
            builder.Properties["Granary:Scheduling:DemoHandlers"] = "false"; // production: tasks run in applications only
            return Task.CompletedTask;
        }
    }

    /// <summary>An application's host: disposing it stops it (within its shutdown timeout), then releases it.</summary>
    public sealed class WorkerHost(IHost host) : IAsyncDisposable
    {
        /// <inheritdoc/>
        public async ValueTask DisposeAsync()
        {
            await host.StopAsync();
            host.Dispose();
        }
    }

    /// <summary>What the consumer saw, shared with the test.</summary>
    public sealed class ConsumerProbe
    {
        private int _running;
        private long _most;

        /// <summary>Delivery times (Stopwatch timestamps) per message id.</summary>
        public ConcurrentDictionary<string, ConcurrentQueue<long>> Deliveries { get; } = new(StringComparer.Ordinal);

        /// <summary>Messages handled successfully.</summary>
        public ConcurrentDictionary<string, bool> Succeeded { get; } = new(StringComparer.Ordinal);

        /// <summary>Most messages handled at once.</summary>
        public long Most => Volatile.Read(ref _most);

        /// <summary>Marks one handling as started; returns the delivery number.</summary>
        public int Enter(string id)
        {
            AtomicMax.Raise(ref _most, Interlocked.Increment(ref _running));
            var times = Deliveries.GetOrAdd(id, _ => new ConcurrentQueue<long>());
            times.Enqueue(Stopwatch.GetTimestamp());
            return times.Count;
        }

        /// <summary>Marks one handling as over.</summary>
        public void Leave() => Interlocked.Decrement(ref _running);
    }

    /// <summary>Fails an order flagged <see cref="OrderMessage.FailFirst"/> on its first delivery.</summary>
    public sealed class OrderConsumer(ConsumerProbe probe) : IQueueConsumer<OrderMessage>
    {
        /// <inheritdoc/>
        public async Task HandleAsync(OrderMessage message, CancellationToken cancellationToken)
        {
            ArgumentNullException.ThrowIfNull(message);
            var delivery = probe.Enter(message.Id);
            try
            {
                await Task.Delay(100, cancellationToken); // the work being simulated
                if (message.FailFirst && delivery == 1)
                {
                    throw new InvalidOperationException("the picker dropped the basket");
                }

                probe.Succeeded[message.Id] = true;
            }
            finally
            {
                probe.Leave();
            }
        }
    }

    /// <summary>Adds the numbers; a scoped service per run.</summary>
    public sealed class SumHandler : ITaskHandler<SumArgs, SumResult>
    {
        /// <inheritdoc/>
        public ValueTask<SumResult> HandleAsync(SumArgs arguments, CancellationToken cancellationToken)
        {
            ArgumentNullException.ThrowIfNull(arguments);
            return ValueTask.FromResult(new SumResult(arguments.Numbers.Sum(), arguments.Numbers.Length));
        }
    }
}

/// <summary>Arguments of the test's typed handlers.</summary>
/// <param name="Numbers">The numbers.</param>
public sealed record SumArgs(int[] Numbers);

/// <summary>Result of the test's typed handlers.</summary>
/// <param name="Total">Their sum.</param>
/// <param name="Count">How many.</param>
public sealed record SumResult(int Total, int Count);

/// <summary>A message of the test's queue consumer.</summary>
/// <param name="Id">The order.</param>
/// <param name="FailFirst">Fail its first delivery.</param>
public sealed record OrderMessage(string Id, bool FailFirst);

/// <summary>The test's source-generated JSON contract.</summary>
[JsonSourceGenerationOptions(PropertyNamingPolicy = JsonKnownNamingPolicy.CamelCase)]
[JsonSerializable(typeof(SumArgs))]
[JsonSerializable(typeof(SumResult))]
[JsonSerializable(typeof(OrderMessage))]
[JsonSerializable(typeof(string))]
[JsonSerializable(typeof(decimal))]
[JsonSerializable(typeof(decimal[]))]
internal sealed partial class WorkerTestJson : JsonSerializerContext;
