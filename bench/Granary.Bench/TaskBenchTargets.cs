using System.Collections.Concurrent;
using System.Globalization;
using Granary.Client.Scheduling;
using Granary.Scheduling;
using Hangfire;
using Hangfire.PostgreSql;
using Hangfire.States;
using Hangfire.Storage;
using Npgsql;

namespace Granary.Bench;

/// <summary>Granary tasks end to end: submit <c>add(1, 2)</c>, then wait (long poll) until its result is stored.</summary>
public sealed class TaskBenchTarget(IGrainFactory grains, string storage) : IBenchTarget
{
    private readonly TaskClient _tasks = new(grains);

    /// <inheritdoc/>
    public string System => "granary";

    /// <inheritdoc/>
    public string Configuration => $"task grains + partitioned schedulers + worker grains (late ack), storage {storage}; submit then long-poll the result";

    /// <inheritdoc/>
    public Task SetupAsync(CancellationToken cancellationToken) => Task.CompletedTask;

    private readonly ConcurrentQueue<(double Submit, double Queued, double Run, double Notify)> _phases = new();

    /// <inheritdoc/>
    public async Task ExecuteAsync(int caller, CancellationToken cancellationToken)
    {
        var start = DateTimeOffset.UtcNow;
        var info = await _tasks.SubmitAsync(new TaskSubmission("add", "[1, 2]"));
        var submitted = DateTimeOffset.UtcNow;
        info = await _tasks.WaitAsync(info.Id, TimeSpan.FromSeconds(30), cancellationToken);
        var seen = DateTimeOffset.UtcNow;
        if (info.State != TaskState.Succeeded)
        {
            throw new InvalidOperationException($"task {info.Id} ended {TaskTransitions.ToName(info.State)}");
        }

        if (info.StartedAt is { } started && info.FinishedAt is { } finished)
        {
            _phases.Enqueue(((submitted - start).TotalMilliseconds, (started - info.CreatedAt).TotalMilliseconds, (finished - started).TotalMilliseconds, (seen - finished).TotalMilliseconds));
        }
    }

    /// <summary>
    /// Where a task's time went (medians over the run, client and silo on one clock): the submit call
    /// (task record write + the scheduler's write), created -> claimed (scheduler queue, dispatch,
    /// worker), claimed -> finished (claim write, handler, acknowledgement), finished -> result seen
    /// (result write, long-poll wake-up).
    /// </summary>
    public string Breakdown()
    {
        var all = _phases.ToArray();
        if (all.Length == 0)
        {
            return "no completed tasks";
        }

        static double Median(IEnumerable<double> values)
        {
            var sorted = values.Order().ToArray();
            return sorted[sorted.Length / 2];
        }

        return string.Create(CultureInfo.InvariantCulture,
            $"granary per-task medians over {all.Length} tasks: submit call {Median(all.Select(p => p.Submit)):F1} ms; created -> claimed {Median(all.Select(p => p.Queued)):F1} ms; claimed -> finished {Median(all.Select(p => p.Run)):F1} ms; finished -> result seen {Median(all.Select(p => p.Notify)):F1} ms");
    }

    /// <inheritdoc/>
    public ValueTask DisposeAsync() => ValueTask.CompletedTask;
}

/// <summary>
/// Hangfire 1.8 on PostgreSQL (Hangfire.PostgreSql), in-process server, set up as its docs
/// recommend: recommended serializer settings, simple assembly names, QueuePollInterval at its
/// 50 ms minimum, Npgsql auto-prepare on. A job counts as done when its Succeeded state is applied.
/// The server (workers, heartbeats, expiration and schedule polling) runs only during Hangfire's own
/// windows: it is stopped after each of them and started again before the next.
/// </summary>
public sealed class HangfireBenchTarget(string connectionString, int workers, bool longPolling = false) : IBackgroundBenchTarget
{
    private BackgroundJobServer? _server;
    private BackgroundJobClient? _client;

    /// <inheritdoc/>
    public string System => "hangfire";

    /// <inheritdoc/>
    public string Configuration => $"Hangfire.Core 1.8.25 + Hangfire.PostgreSql 1.21.1, in-process server with {workers} workers, {(longPolling ? "long polling (LISTEN/NOTIFY) on" : "QueuePollInterval 50 ms")}, auto-prepare";

    /// <inheritdoc/>
    public async Task SetupAsync(CancellationToken cancellationToken)
    {
        var csb = new NpgsqlConnectionStringBuilder(connectionString) { MaxAutoPrepare = 32, AutoPrepareMinUsages = 2, MaxPoolSize = 200 };
        var options = new PostgreSqlStorageOptions
        {
            SchemaName = "hangfire_bench",
            QueuePollInterval = TimeSpan.FromMilliseconds(50),
            EnableLongPolling = longPolling,
            PrepareSchemaIfNecessary = true,
        };
        GlobalConfiguration.Configuration
            .SetDataCompatibilityLevel(CompatibilityLevel.Version_180)
            .UseSimpleAssemblyNameTypeSerializer()
            .UseRecommendedSerializerSettings()
            .UsePostgreSqlStorage(c => c.UseNpgsqlConnection(csb.ConnectionString), options);
        GlobalJobFilters.Filters.Add(new CompletionFilter());
        _client = new BackgroundJobClient(JobStorage.Current);
        await StartBackgroundAsync(cancellationToken);
    }

    /// <inheritdoc/>
    public async Task StartBackgroundAsync(CancellationToken cancellationToken)
    {
        _server = new BackgroundJobServer(new BackgroundJobServerOptions { WorkerCount = workers, SchedulePollingInterval = TimeSpan.FromSeconds(1) }, JobStorage.Current);
        await Task.Delay(TimeSpan.FromSeconds(1), cancellationToken); // let the server register its workers
    }

    /// <inheritdoc/>
    public Task StopBackgroundAsync(CancellationToken cancellationToken)
    {
        var server = _server;
        _server = null;
        return server is null ? Task.CompletedTask : Task.Run(() => Stop(server), cancellationToken);
    }

    /// <inheritdoc/>
    public async Task ExecuteAsync(int caller, CancellationToken cancellationToken)
    {
        var done = new TaskCompletionSource(TaskCreationOptions.RunContinuationsAsynchronously);
        var token = Guid.NewGuid();
        CompletionFilter.Waiting[token] = done;
        try
        {
            _client!.Enqueue(() => HangfireBenchJobs.Add(1, 2, token));
            await done.Task.WaitAsync(TimeSpan.FromSeconds(30), cancellationToken);
        }
        finally
        {
            CompletionFilter.Waiting.TryRemove(token, out _);
        }
    }

    /// <inheritdoc/>
    public ValueTask DisposeAsync()
    {
        if (_server is { } server)
        {
            _server = null;
            Stop(server);
        }

        return ValueTask.CompletedTask;
    }

    /// <summary>Asks every background process to stop, then waits for them (Dispose waits up to the server's shutdown timeout).</summary>
    private static void Stop(BackgroundJobServer server)
    {
        server.SendStop();
        server.Dispose();
    }

    /// <summary>Signals a waiting caller when Hangfire applies the Succeeded state to its job.</summary>
    private sealed class CompletionFilter : IApplyStateFilter
    {
        public static readonly ConcurrentDictionary<Guid, TaskCompletionSource> Waiting = new();

        public void OnStateApplied(ApplyStateContext context, IWriteOnlyTransaction transaction)
        {
            if (context.NewState is SucceededState && context.BackgroundJob.Job.Args.Count == 3 && context.BackgroundJob.Job.Args[2] is Guid token
                && Waiting.TryGetValue(token, out var done))
            {
                done.TrySetResult();
            }
        }

        public void OnStateUnapplied(ApplyStateContext context, IWriteOnlyTransaction transaction)
        {
        }
    }
}

/// <summary>The trivial job Hangfire runs (public static so Hangfire can serialise the call).</summary>
public static class HangfireBenchJobs
{
    /// <summary>add(x, y); the token only identifies the caller waiting for it.</summary>
    public static int Add(int x, int y, Guid token) => token == Guid.Empty ? 0 : x + y;
}
