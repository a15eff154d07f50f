using System.Diagnostics;
using System.Globalization;
using System.Text;
using Granary.Caching;
using Granary.Client.Caching;
using Granary.Client.Locks;
using Granary.Client.Queues;
using Granary.Client.Scheduling;
using Granary.Client.Transactions;
using Granary.Errors;
using Granary.Queues;
using Granary.Scheduling;
using Granary.Server.Storage;
using Granary.Tests.Cluster.Infrastructure;
using Granary.Transactions;
using Xunit.Abstractions;

namespace Granary.Tests.Cluster.Soak;

/// <summary>
/// The soak: every family driven at once for a bounded time with names that keep changing (new lock
/// names, cache keys with TTLs, new queues and a queue whose backlog grows, new accounts and
/// transactions, new sagas through one hot account, new tasks, tasks sent to queue names nobody
/// declared, periodic tasks added, re-scheduled and removed), on one silo over PostgreSQL shards with
/// a short activation collection age. Every window it prints the silo's activations, the stored rows
/// per state name (count and largest payload) and the managed heap after a full GC, and at the end
/// it asserts that activations and rows level off: the growth in the second half of the run must be
/// a small fraction of the growth in the first half (which holds the ramp-up), or below a small floor.
/// Activations and largest rows, which scale with the rate of operations, are compared at the run's
/// mean load (each sample's growth divided by the operations of its window). The heap is compared
/// once the load has stopped and drained, against the drain of a warm-up drive before the run.
/// <para>
/// What may grow, and why (not asserted, printed): rows that exist once per distinct name by design
/// (<see cref="GrowsWithNames"/>): a lock keeps its row so that its fencing tokens keep increasing if
/// the name is used again, an account or a queue exists until deleted, a transaction's outcome answers
/// replays of its id for the decision retention (then the decision sweep deletes it), a saga's outcome
/// answers replays of its id, a task's record is kept for the result retention (a day by
/// default), a removed periodic task keeps its disabled record so that adding it again cannot fire the
/// current tick twice. Their count grows; their largest payload must not. The rows of the queue
/// messages themselves (the backlog) and of the cache's backing table are the user's data and are
/// not grain state.
/// </para>
/// <para>
/// What must level off: activations (idle ones are collected), every other state's row count, every
/// state's largest row (a participant's saga barrier keys, the scheduling directory), and the heap
/// (queue bodies held in memory, cache versions of expired keys, removed periodic tasks and
/// invented task queues pinned with their timers, metric series of collected queues).
/// </para>
/// </summary>
[Collection(SoakCollection.Name)]
public sealed class SoakTests(SharedServersFixture servers, ITestOutputHelper output) : IAsyncLifetime
{
    /// <summary>State names that get one row per distinct name, and why that is kept.</summary>
    public static readonly IReadOnlyDictionary<string, string> GrowsWithNames = new Dictionary<string, string>(StringComparer.Ordinal)
    {
        ["lock-lease"] = "one per lock name: the fencing token must keep increasing if the name is used again",
        ["queue-definition"] = "one per queue created: a queue exists until it is deleted",
        ["tx-account"] = "one per account opened",
        ["tx-coordinator"] = "one per transaction for the decision retention (a day by default; longer than this run): its outcome answers a replay of the id, then the decision sweep deletes it",
        ["tx-saga"] = "one per saga: its outcome answers a replay of the id and its participants' questions",
        ["task-record"] = "one per task, kept for the result retention (a day by default)",
        ["task-periodic"] = "one per periodic task name; a removed one stays disabled so a re-add cannot fire the current tick twice",
    };

    private const string ServiceId = "granary-test";
    private static readonly TimeSpan WarmUpTime = TimeSpan.FromSeconds(20);
    private static readonly TimeSpan DriveTime = TimeSpan.FromSeconds(80);
    private static readonly TimeSpan Window = TimeSpan.FromSeconds(5);
    private const double GrowthRatio = 0.25;
    private const int ActivationFloor = 60;
    private const int RowFloor = 3;
    private const long LargestRowFloor = 1_536;

    // The largest row of a state is the largest of many rows that each keep the last few seconds' entries
    // (a participant's finished transactions younger than the prepare timeout, for one): even at the mean
    // load it swings between samples by about a fifth either way (6.8-9.7 kB in one run, 8.0 -> 6.9 -> 8.7
    // kB by the means compared), so the second half may also rise by this part of the middle level. A row
    // that keeps an entry per operation grows by kilobytes a second and still fails.
    private const double LargestRowSwing = 0.3;

    // Once drained, the heap may hold what a silo keeps whatever the load (pools, caches of types and
    // grain references) plus a few bytes per operation; a leak of a kilobyte per operation exceeds it
    // several times over (the run makes tens of thousands of operations).
    private const long HeapLeftFloor = 8L * 1024 * 1024;
    private const long HeapLeftPerOperation = 128;

    // Collection age (5 s) plus a quantum, with room for a loaded CPU; the cache keys' TTL (3 s).
    private static readonly TimeSpan DrainTime = TimeSpan.FromSeconds(60);
    private static readonly TimeSpan KeyTtl = TimeSpan.FromSeconds(3);

    private readonly RedisPostgresClusterFixture _cluster = new(servers) { Silos = 1 };
    private readonly string _run = Guid.NewGuid().ToString("N")[..8];
    private readonly Dictionary<string, FamilyCounts> _families = new(StringComparer.Ordinal);
    private string _phase = "";

    public async Task InitializeAsync()
    {
        var backing = "soak_backing_" + _run;
        await servers.Postgres.CreateDatabaseAsync(backing);
        _cluster.Settings["Granary:Cluster:CollectionAge"] = "00:00:05";

        // Orleans caches the location of every grain a silo has seen for four minutes, up to this
        // many: a bound of its own (README), which the run's names would otherwise fill for longer
        // than the drains wait, so the heap's check would measure the cache's fill, not Granary.
        _cluster.Settings["Granary:Cluster:DirectoryCacheSize"] = "1000";
        _cluster.Settings["Granary:Caching:BackingConnectionString"] = servers.Postgres.ConnectionString(backing);
        _cluster.Settings["Granary:Caching:ReadThroughTtl"] = "00:00:03";
        _cluster.Settings["Granary:Queues:CleanupInterval"] = "00:00:02";
        _cluster.Settings["Granary:Telemetry:StatsInterval"] = "00:00:01";
        _cluster.Settings["Granary:Transactions:CallTimeout"] = "00:00:02";
        _cluster.Settings["Granary:Transactions:MaxClockSkew"] = "00:00:01";
        _cluster.Settings["Granary:Transactions:PrepareTimeout"] = "00:00:02";
        _cluster.Settings["Granary:Transactions:PreparedTimeout"] = "00:00:02";
        _cluster.Settings["Granary:Transactions:InquiryInterval"] = "00:00:00.500";
        _cluster.Settings["Granary:Transactions:OutcomeFlushDelay"] = "00:00:01";
        await _cluster.InitializeAsync();
    }

    public Task DisposeAsync() => _cluster.DisposeAsync();

    [Fact]
    public async Task Activations_rows_and_memory_level_off_while_every_family_churns_names()
    {
        var grains = _cluster.Grains;
        var locks = new DistributedLocks(grains);
        var queues = new QueueClient(grains);
        var transactions = new TransactionClient(grains);
        var tasks = new TaskClient(grains);
        await using var cache = await CacheClient.CreateAsync(grains, "soak-cache-" + _run, 4, new CacheSettings(BackingTable: "soak_" + _run));
        var backlog = "soak-backlog-" + _run;
        await queues.CreateAsync(backlog, new QueueDefinition(Partitions: 1, DeduplicationWindow: TimeSpan.FromSeconds(5)));
        var hot = "soak-hot-" + _run;
        var sagaHot = "soak-saga-hot-" + _run;
        await grains.GetGrain<IAccountGrain>(hot).OpenAsync(1_000_000_000);
        await grains.GetGrain<IAccountGrain>(sagaHot).OpenAsync(1_000_000_000);
        var body = new byte[8 * 1024];
        Random.Shared.NextBytes(body);
        var pad = new string('k', 200);

        // A warm-up drive first, then a drain: the pools and caches a silo sizes to its load (connection
        // buffers, array pools, type and grain-reference caches) reach their level there, so what the
        // measured drive leaves once drained is what its operations kept.
        _phase = "warm";
        using (var warmUp = new CancellationTokenSource(WarmUpTime))
        {
            await Task.WhenAll(Start(warmUp.Token));
        }

        var baseline = await DrainAsync(await SampleAsync(TimeSpan.Zero));
        _phase = "run";
        using var stop = new CancellationTokenSource(DriveTime);
        var drivers = Start(stop.Token);

        List<Task> Start(CancellationToken token) => new()
        {
            // Locks: a new name every time, acquired and released.
            Drive("locks", token, TimeSpan.Zero, async n =>
            {
                await using var lease = await locks.AcquireAsync(Name("lock", n), TimeSpan.FromSeconds(10), TimeSpan.Zero);
            }),

            // Caches: new keys with a TTL, written behind to the backing table (a version each) and set plainly.
            Drive("caches", token, TimeSpan.Zero, async n =>
            {
                await Task.WhenAll(Enumerable.Range(0, 4).Select(i => cache.WriteBehindAsync(Name("wb", (n * 4) + i) + pad, "value", 1)));
                Expect((await cache.ExecuteAsync(["SET", Name("set", n) + pad, "value", "PX", "3000"])).IsError is false, "SET failed");
            }, lanes: 2),

            // Queues: a new queue each time (create, enqueue, dequeue, ack) ...
            Drive("queues", token, TimeSpan.Zero, async n =>
            {
                var queue = Name("q", n);
                await queues.CreateAsync(queue, new QueueDefinition(Partitions: 1));
                await queues.EnqueueBatchAsync(queue, [new QueueMessageInput([1]), new QueueMessageInput([2]), new QueueMessageInput([3])]);
                var deliveries = await queues.DequeueAsync(queue, "soak", 3, TimeSpan.FromSeconds(30), TimeSpan.Zero);
                await queues.AckManyAsync(queue, deliveries.Select(d => d.Receipt));
            }),

            // ... and one queue whose backlog grows (8 KiB bodies nobody consumes, 8 per call).
            Drive("backlog", token, TimeSpan.FromMilliseconds(100), async n =>
                await queues.EnqueueBatchAsync(backlog, [.. Enumerable.Range(0, 8).Select(i => new QueueMessageInput(body))])),

            // Transactions: a new account each time and a transfer from the hot account to it (a new transaction id).
            Drive("transfers", token, TimeSpan.Zero, async n =>
            {
                var account = Name("acct", n);
                await grains.GetGrain<IAccountGrain>(account).OpenAsync(0);
                var result = await transactions.TransferAsync(hot, account, 1);
                Expect(result.Outcome == TxOutcome.Committed, $"transfer {result.Outcome} {result.AbortReason}");
            }),

            // Sagas: a new saga each time, one step on the hot saga account, one on a new account.
            Drive("sagas", token, TimeSpan.Zero, async n =>
            {
                var account = Name("saga-acct", n);
                await grains.GetGrain<IAccountGrain>(account).OpenAsync(0);
                var view = await grains.GetGrain<ISagaGrain>(Name("saga", n)).RunAsync(new SagaDefinition(
                [
                    new SagaStepDefinition("debit", ParticipantRef.Account(sagaHot), new Debit(1)),
                    new SagaStepDefinition("credit", ParticipantRef.Account(account), new Credit(1)),
                ]));
                Expect(view.Status == "Completed", $"saga {view.Status}: {view.LastError}");
            }),

            // Tasks: new task ids on the default queue, waiting for each result.
            Drive("tasks", token, TimeSpan.Zero, async n =>
            {
                var info = await tasks.SubmitWithIdAsync(Name("task", n), new TaskSubmission("add", "[1, 2]"));
                var done = await tasks.WaitAsync(info.Id, TimeSpan.FromSeconds(20));
                Expect(done.State == TaskState.Succeeded, $"task {done.State}");
            }),

            // Tasks sent to a queue name nobody declared: a typed refusal (counted as rejected), or,
            // where such names are still accepted, a queue and its schedulers that nothing serves.
            Drive("task-queues", token, TimeSpan.FromMilliseconds(250), async n =>
                await tasks.SubmitAsync(new TaskSubmission("add", "[1, 1]") { Queue = Name("tq", n) })),

            // Periodic tasks: added, re-scheduled, removed, under a new name each time.
            Drive("periodic", token, TimeSpan.FromMilliseconds(200), async n =>
            {
                var name = Name("every", n);
                await tasks.ScheduleAsync(name, "* * * * *", new TaskSubmission("add", "[2, 2]"));
                await tasks.ScheduleAsync(name, "*/2 * * * *", new TaskSubmission("add", "[3, 3]"));
                await tasks.RemovePeriodicAsync(name);
            }),
        };

        var samples = new List<Sample> { await SampleAsync(TimeSpan.Zero) };
        var clock = Stopwatch.StartNew();
        output.WriteLine($"soak {_run}: {DriveTime.TotalSeconds:F0} s after a {WarmUpTime.TotalSeconds:F0} s warm-up, one silo, collection age 5 s, a sample every {Window.TotalSeconds:F0} s");
        output.WriteLine(string.Create(CultureInfo.InvariantCulture, $"warm-up drained after {baseline.At.TotalSeconds:F0} s: {baseline.Activations:N0} activations, heap {baseline.HeapBytes / 1048576.0:F1} MB"));
        output.WriteLine(Header());
        output.WriteLine(Describe(samples[0], null));
        while (!stop.IsCancellationRequested)
        {
            var next = Window * samples.Count;
            var wait = next - clock.Elapsed;
            if (wait > TimeSpan.Zero)
            {
                await Task.Delay(wait, CancellationToken.None); // the behaviour under test is the drive over time: one sample per window
            }

            samples.Add(await SampleAsync(clock.Elapsed));
            output.WriteLine(Describe(samples[^1], samples[^2]));
        }

        await Task.WhenAll(drivers);
        PrintDetail(samples);

        var failures = new List<string>();
        foreach (var (family, counts) in _families.OrderBy(f => f.Key, StringComparer.Ordinal))
        {
            output.WriteLine($"{family,-12} ok {counts.Ok,6}  rejected {counts.Rejected,6}  failed {counts.Failed,4}  {counts.LastProblem}");
            if (counts.Ok + counts.Rejected < 10)
            {
                failures.Add($"{family}: only {counts.Ok + counts.Rejected} operations completed ({counts.LastProblem})");
            }
        }

        // Activations and the largest rows hold what the last few seconds' operations left (collected
        // or pruned after a bounded time), so they scale with the rate of operations, which the shared
        // CPU makes swing by half during a run: they are compared per unit of load (see PerLoad).
        var load = LoadPerWindow(samples);
        CheckLevels(failures, "activations (at the mean load)", PerLoad(samples.Select(s => (double)s.Activations).ToList(), load), ActivationFloor);

        // The heap holds the live activations and the cache's unexpired keys, which follow the load
        // the shared CPU allows, so its level during the run is printed, not asserted. A leak shows
        // once the load stops: what the operations left for a bounded time (idle activations, keys
        // with a TTL, message windows) goes away within the collection age and the TTLs, and what
        // stays grows with the operations. Both drains are compared.
        var drained = await DrainAsync(samples[^1]);
        var operations = drained.Ops.Values.Sum();
        var heapLeft = drained.HeapBytes - baseline.HeapBytes;
        output.WriteLine(string.Create(CultureInfo.InvariantCulture, $"drained after {drained.At.TotalSeconds:F0} s: {drained.Activations:N0} activations, heap {drained.HeapBytes / 1048576.0:F1} MB ({heapLeft / (double)operations:F0} bytes per operation more than after the warm-up's drain, {operations:N0} operations)"));
        output.WriteLine("  still active: " + string.Join(", ", drained.ByType.Where(t => t.Value > 0).OrderByDescending(t => t.Value).Select(t => $"{t.Key} {t.Value}")));
        if (heapLeft > HeapLeftFloor + (HeapLeftPerOperation * operations))
        {
            failures.Add(string.Create(CultureInfo.InvariantCulture, $"heap after GC once drained: +{heapLeft:N0} bytes over the warm-up's drain for {operations:N0} operations (allowed {HeapLeftFloor:N0} + {HeapLeftPerOperation} per operation)"));
        }

        foreach (var state in samples.SelectMany(s => s.Rows.Keys).Distinct(StringComparer.Ordinal).Order(StringComparer.Ordinal))
        {
            if (!GrowsWithNames.ContainsKey(state))
            {
                CheckLevels(failures, $"rows of '{state}'", samples.Select(s => (double)s.Rows.GetValueOrDefault(state).Rows).ToList(), RowFloor);
            }

            CheckLevels(failures, $"largest '{state}' row (bytes, at the mean load)", PerLoad(samples.Select(s => (double)s.Rows.GetValueOrDefault(state).LargestBytes).ToList(), load), LargestRowFloor, LargestRowSwing);
        }

        foreach (var failure in failures)
        {
            output.WriteLine("DOES NOT LEVEL OFF: " + failure);
        }

        Assert.True(failures.Count == 0, string.Join(Environment.NewLine, failures));
    }

    private string Name(string kind, long n) => string.Create(CultureInfo.InvariantCulture, $"soak-{kind}-{_run}-{_phase}-{n}");

    /// <summary>
    /// With the load stopped, waits until the idle activations are collected (at most
    /// twice <see cref="ActivationFloor"/> left: singletons, and sagas that wait for their last answers) and the cache's keys have outlived their TTL, then samples.
    /// </summary>
    private async Task<Sample> DrainAsync(Sample last)
    {
        var clock = Stopwatch.StartNew();
        var sample = await Eventually.ValueAsync(
            $"idle activations collected once the load stopped ({last.Activations:N0} at its end)",
            () => SampleAsync(clock.Elapsed),
            s => s.Activations <= 2 * ActivationFloor && clock.Elapsed >= KeyTtl,
            DrainTime,
            poll: TimeSpan.FromSeconds(1));
        return sample with { Ops = last.Ops };
    }

    private static void Expect(bool condition, string problem)
    {
        if (!condition)
        {
            throw new InvalidOperationException(problem);
        }
    }

    /// <summary>
    /// Runs <paramref name="iteration"/> in <paramref name="lanes"/> loops until stopped (each with a
    /// number of its own: lane, lane + lanes, ...), counting successes, typed refusals and failures.
    /// </summary>
    private Task Drive(string family, CancellationToken stop, TimeSpan pause, Func<long, Task> iteration, int lanes = 1)
    {
        var counts = _families[family] = new FamilyCounts();
        return Task.WhenAll(Enumerable.Range(0, lanes).Select(lane => Task.Run(async () =>
        {
            for (long n = lane; !stop.IsCancellationRequested; n += lanes)
            {
                try
                {
                    await iteration(n);
                    Interlocked.Increment(ref counts.Ok);
                }
                catch (GranaryException ex)
                {
                    Interlocked.Increment(ref counts.Rejected);
                    counts.LastProblem = $"{ex.Code}: {ex.Message}";
                }
                catch (Exception ex) when (ex is not OutOfMemoryException)
                {
                    Interlocked.Increment(ref counts.Failed);
                    counts.LastProblem = $"{ex.GetType().Name}: {ex.Message}";
                }

                if (pause > TimeSpan.Zero)
                {
                    try
                    {
                        await Task.Delay(pause, stop); // the behaviour under test is a steady load: the family's pace
                    }
                    catch (OperationCanceledException)
                    {
                        return;
                    }
                }
            }
        })));
    }

    private async Task<Sample> SampleAsync(TimeSpan at)
    {
        var statistics = await _cluster.Grains.GetGrain<IManagementGrain>(0).GetSimpleGrainStatistics();
        var byType = statistics
            .GroupBy(s => s.GrainType, StringComparer.Ordinal)
            .ToDictionary(g => g.Key, g => g.Sum(s => s.ActivationCount), StringComparer.Ordinal);
        var reports = await ShardInspector.CountAsync(_cluster.Shards, ServiceId, CancellationToken.None);
        Assert.All(reports, r => Assert.Null(r.Error));
        var rows = reports
            .SelectMany(r => r.ByState)
            .GroupBy(s => s.StateName, StringComparer.Ordinal)
            .ToDictionary(g => g.Key, g => (Rows: g.Sum(s => s.Rows), LargestBytes: g.Max(s => s.LargestBytes)), StringComparer.Ordinal);
        var ops = _families.ToDictionary(f => f.Key, f => Interlocked.Read(ref f.Value.Ok) + Interlocked.Read(ref f.Value.Rejected), StringComparer.Ordinal);
        return new Sample(at, byType.Values.Sum(), byType, rows, HeapAfterFullCollection(), ops);
    }

    /// <summary>
    /// The managed heap of this process after a full, compacting collection: the silo runs in it
    /// (with the test's client, which keeps nothing per operation), so what the silo retains shows here.
    /// </summary>
    private static long HeapAfterFullCollection()
    {
        GC.Collect(2, GCCollectionMode.Forced, blocking: true, compacting: true);
        GC.WaitForPendingFinalizers();
        GC.Collect(2, GCCollectionMode.Forced, blocking: true, compacting: true);
        return GC.GetTotalMemory(forceFullCollection: false);
    }

    /// <summary>
    /// Operations completed in the window before each sample (none before the first) by the families
    /// that make a grain or a row per name: all but the cache, whose shards are a fixed set.
    /// </summary>
    private static List<double> LoadPerWindow(List<Sample> samples) =>
        samples.Select((s, i) => i == 0 ? 0d : s.Ops.Where(o => o.Key != "caches").Sum(o => (double)(o.Value - samples[i - 1].Ops.GetValueOrDefault(o.Key)))).ToList();

    /// <summary>
    /// Each sample's growth over the first sample, scaled to the run's mean load: a structure that
    /// keeps a bounded time's worth of operations stays flat however the rate swings, while one that
    /// keeps everything still grows with the run's length.
    /// </summary>
    private static List<double> PerLoad(IReadOnlyList<double> values, IReadOnlyList<double> load)
    {
        var mean = load.Skip(1).Average();
        return values.Select((v, i) => i == 0 || load[i] <= 0 ? v : values[0] + ((v - values[0]) * mean / load[i])).ToList();
    }

    /// <summary>
    /// Levels off: the growth from the middle to the end (means of three samples) is at most
    /// <see cref="GrowthRatio"/> of the growth from the start to the middle, or below <paramref name="floor"/>,
    /// or below <paramref name="swing"/> times the middle level (for a level that swings with the load).
    /// </summary>
    private void CheckLevels(List<string> failures, string what, IReadOnlyList<double> values, double floor, double swing = 0)
    {
        var mid = values.Count / 2;
        double Around(int i) => values.Skip(Math.Max(0, i - 1)).Take(3).Average();
        var middle = Around(mid);
        var end = values.Skip(values.Count - 3).Average();
        var first = middle - values[0];
        var second = end - middle;
        var allowed = Math.Max(Math.Max(GrowthRatio * Math.Max(first, 0), floor), swing * middle);
        if (second > allowed)
        {
            failures.Add(string.Create(CultureInfo.InvariantCulture, $"{what}: +{second:N0} in the second half (allowed {allowed:N0}; +{first:N0} in the first half; {values[0]:N0} -> {middle:N0} -> {end:N0})"));
        }
    }

    private static string Header() =>
        "    t   activations   heap MB  rows (all)  largest row  ops in window";

    private static string Describe(Sample s, Sample? previous)
    {
        var ops = previous is null ? "" : string.Join(" ", s.Ops.OrderBy(o => o.Key, StringComparer.Ordinal).Select(o => $"{o.Key}={o.Value - previous.Ops.GetValueOrDefault(o.Key)}"));
        var top = s.Rows.OrderByDescending(r => r.Value.LargestBytes).FirstOrDefault();
        var largest = top.Key is null ? "-" : string.Create(CultureInfo.InvariantCulture, $"{top.Value.LargestBytes:N0} ({top.Key})");
        return string.Create(CultureInfo.InvariantCulture, $"{s.At.TotalSeconds,5:F0} s {s.Activations,11:N0} {s.HeapBytes / 1048576.0,9:F1} {s.Rows.Values.Sum(r => r.Rows),11:N0}  {largest}  {ops}");
    }

    private void PrintDetail(List<Sample> samples)
    {
        var first = samples[0];
        var mid = samples[samples.Count / 2];
        var last = samples[^1];
        var text = new StringBuilder();
        text.AppendLine("activations by grain type (start -> middle -> end):");
        foreach (var type in last.ByType.Keys.Union(mid.ByType.Keys).Order(StringComparer.Ordinal))
        {
            text.AppendLine(CultureInfo.InvariantCulture, $"  {type,-60} {first.ByType.GetValueOrDefault(type),6} -> {mid.ByType.GetValueOrDefault(type),6} -> {last.ByType.GetValueOrDefault(type),6}");
        }

        text.AppendLine("stored rows by state (count; largest payload in bytes) (start -> middle -> end):");
        foreach (var state in last.Rows.Keys.Order(StringComparer.Ordinal))
        {
            var why = GrowsWithNames.TryGetValue(state, out var reason) ? "  [grows with names: " + reason + "]" : "";
            text.AppendLine(CultureInfo.InvariantCulture, $"  {state,-20} {first.Rows.GetValueOrDefault(state).Rows,7:N0} -> {mid.Rows.GetValueOrDefault(state).Rows,7:N0} -> {last.Rows[state].Rows,7:N0};  largest {first.Rows.GetValueOrDefault(state).LargestBytes,7:N0} -> {mid.Rows.GetValueOrDefault(state).LargestBytes,7:N0} -> {last.Rows[state].LargestBytes,7:N0}{why}");
        }

        output.WriteLine(text.ToString());
    }

    private sealed class FamilyCounts
    {
        public long Ok;
        public long Rejected;
        public long Failed;

        public string LastProblem { get; set; } = "";
    }

    private sealed record Sample(
        TimeSpan At,
        int Activations,
        IReadOnlyDictionary<string, int> ByType,
        IReadOnlyDictionary<string, (long Rows, long LargestBytes)> Rows,
        long HeapBytes,
        IReadOnlyDictionary<string, long> Ops);
}

/// <summary>
/// The soak's collection: it measures the heap of the whole test process, so it runs alone, after the
/// parallel collections, on servers of its own.
/// </summary>
[CollectionDefinition(Name, DisableParallelization = true)]
public sealed class SoakCollection : ICollectionFixture<SharedServersFixture>
{
    /// <summary>The collection name.</summary>
    public const string Name = "soak";
}
