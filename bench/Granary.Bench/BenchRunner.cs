using System.Diagnostics;
using System.Globalization;
using System.Text.Json.Serialization;
using Granary.Bench.Cpu;
using Granary.Cli.Cli;
using Granary.Threading;
using HdrHistogram;

namespace Granary.Bench;

/// <summary>How a closed-loop run is shaped.</summary>
public sealed record BenchSettings(int Concurrency, TimeSpan Warmup, TimeSpan Duration, bool ShowProgress)
{
    /// <summary>When set, the measured window is exactly this many operations instead of <see cref="Duration"/>.</summary>
    public int? Operations { get; init; }

    /// <summary>
    /// Rounds of a side-by-side comparison: Granary and the peer run in turn this many times (each
    /// with its warm-up and measured window), and the ratio quoted is the median of the rounds'
    /// ratios, so that a drift of the machine during one system's window does not decide it.
    /// </summary>
    public int Rounds { get; init; } = 1;

    /// <summary>When set, every run reports the CPU per operation of the processes it watches, over the measured window.</summary>
    public CpuMeter? Cpu { get; init; }

    /// <summary>
    /// The PostgreSQL servers the compared systems write to (one connection string each): in a
    /// comparison, each is checkpointed before every run (<see cref="PostgresCheckpoint"/>).
    /// </summary>
    public IReadOnlyList<string> CheckpointServers { get; init; } = [];

    /// <summary>
    /// The warm-up before round <paramref name="round"/>: with several timed rounds, the first one's is
    /// <see cref="Warmup"/> plus one measured window, so that every round starts from a system that has
    /// already run at least one full window (later rounds start after their own earlier ones). A system
    /// that runs faster on state it has never used (Orleans.Transactions did up to 28% more transfers
    /// in its first minute on new accounts than in its later ones) otherwise gets a first round no
    /// deployment stays in. Windows of a fixed number of operations keep <see cref="Warmup"/>.
    /// </summary>
    public TimeSpan WarmupFor(int round) =>
        round == 1 && Rounds > 1 && Operations is null ? Warmup + Duration : Warmup;

    /// <summary>These settings with round <paramref name="round"/>'s warm-up (<see cref="WarmupFor"/>).</summary>
    public BenchSettings ForRound(int round) => this with { Warmup = WarmupFor(round) };

    /// <summary>Every round's warm-up and measured window, end to end (waits between runs not included).</summary>
    public TimeSpan RoundsSpan => Enumerable.Range(1, Rounds).Aggregate(TimeSpan.Zero, (total, round) => total + WarmupFor(round) + Duration);
}

/// <summary>Medians of per-round figures.</summary>
public static class BenchMath
{
    /// <summary>The median (mean of the middle two for an even count); 0 for none.</summary>
    public static double Median(IEnumerable<double> values)
    {
        var sorted = values.Order().ToArray();
        if (sorted.Length == 0)
        {
            return 0;
        }

        var middle = sorted.Length / 2;
        return sorted.Length % 2 == 1 ? sorted[middle] : (sorted[middle - 1] + sorted[middle]) / 2;
    }
}

/// <summary>One system's figures for one workload.</summary>
public sealed record BenchResult
{
    /// <summary>System measured (e.g. <c>granary</c>, <c>redis</c>).</summary>
    public required string System { get; init; }

    /// <summary>How the system was set up, printed beside its numbers.</summary>
    public required string Configuration { get; init; }

    /// <summary>Operations completed in the measured window.</summary>
    public required long Operations { get; init; }

    /// <summary>Operations that threw in the measured window (not in the latency histogram).</summary>
    public required long Errors { get; init; }

    /// <summary>Length of the measured window.</summary>
    public required double Seconds { get; init; }

    /// <summary>Operations per second.</summary>
    public double Throughput => Seconds <= 0 ? 0 : Operations / Seconds;

    /// <summary>Median latency in milliseconds.</summary>
    public required double P50Ms { get; init; }

    /// <summary>99th percentile latency in milliseconds.</summary>
    public required double P99Ms { get; init; }

    /// <summary>99.9th percentile latency in milliseconds.</summary>
    public required double P999Ms { get; init; }

    /// <summary>Largest latency in milliseconds.</summary>
    public required double MaxMs { get; init; }

    /// <summary>Concurrent callers.</summary>
    public required int Concurrency { get; init; }

    /// <summary>The first error message seen, if any.</summary>
    public string? FirstError { get; init; }

    /// <summary>Which round of a comparison this is (1 when there is one).</summary>
    public int Round { get; init; } = 1;

    /// <summary>CPU per operation of every watched process over the measured window (null when not measured).</summary>
    public CpuUsage? Cpu { get; init; }

    /// <summary>Total CPU microseconds per operation, "-" when not measured.</summary>
    [JsonIgnore]
    public string CpuText => Cpu is null ? "-" : Cpu.TotalMicrosPerOperation.ToString("F1", CultureInfo.InvariantCulture);

    /// <summary>"client 35.1, silo:30001 80.2, postgres:5432 40.0 = 155.3 us/op (cpu)", or null when not measured.</summary>
    [JsonIgnore]
    public string? CpuBreakdown => Cpu is null ? null : Granary.Bench.Cpu.CpuText.Breakdown(Cpu);
}

/// <summary>
/// Closed-loop load generator: <c>concurrency</c> callers each issue the next operation as soon as
/// the previous one completes, first for a warm-up that is not measured, then for the measured
/// window. Latencies go into per-caller HdrHistograms (microsecond resolution) merged at the end.
/// </summary>
public static class BenchRunner
{
    private const long HighestTrackableMicros = 60L * 1000 * 1000;

    /// <summary>Runs <paramref name="operation"/> (given the caller index) and reports throughput and latency.</summary>
    public static async Task<BenchResult> RunAsync(
        string system,
        string configuration,
        Func<int, CancellationToken, Task> operation,
        BenchSettings settings,
        CancellationToken cancellationToken)
    {
        ArgumentNullException.ThrowIfNull(operation);
        ArgumentNullException.ThrowIfNull(settings);
        if (settings.Operations is { } count)
        {
            return await RunCountAsync(system, configuration, operation, settings, count, cancellationToken);
        }

        var histograms = Enumerable.Range(0, settings.Concurrency).Select(_ => new LongHistogram(HighestTrackableMicros, 3)).ToArray();
        var operations = new long[settings.Concurrency];
        var errors = new long[settings.Concurrency];
        string? firstError = null;
        var measuring = 0;
        var slowest = new long[1];
        using var stop = CancellationTokenSource.CreateLinkedTokenSource(cancellationToken);

        async Task Caller(int index)
        {
            await Task.Yield();
            while (!stop.IsCancellationRequested)
            {
                var start = Stopwatch.GetTimestamp();
                try
                {
                    await operation(index, stop.Token);
                }
                catch (OperationCanceledException) when (stop.IsCancellationRequested)
                {
                    return;
                }
                catch (Exception ex) when (ex is not OutOfMemoryException)
                {
                    if (Volatile.Read(ref measuring) == 1)
                    {
                        errors[index]++;
                        Interlocked.CompareExchange(ref firstError, ex.GetType().Name + ": " + ex.Message, null);
                    }

                    continue;
                }

                if (Volatile.Read(ref measuring) == 1)
                {
                    var micros = Math.Min((long)Stopwatch.GetElapsedTime(start).TotalMicroseconds, HighestTrackableMicros);
                    histograms[index].RecordValue(Math.Max(1, micros));
                    operations[index]++;
                    AtomicMax.Raise(ref slowest[0], micros);
                }
            }
        }

        var callers = Enumerable.Range(0, settings.Concurrency).Select(Caller).ToArray();
        await Task.Delay(settings.Warmup, cancellationToken);
        var cpuBefore = settings.Cpu?.Sample();
        Volatile.Write(ref measuring, 1);
        var window = Stopwatch.StartNew();
        var progress = settings.ShowProgress ? ReportProgressAsync(system, operations, slowest, settings.Duration, stop.Token) : Task.CompletedTask;
        await Task.Delay(settings.Duration, cancellationToken);
        Volatile.Write(ref measuring, 0);
        var seconds = window.Elapsed.TotalSeconds;
        var cpuAfter = settings.Cpu?.Sample();
        await stop.CancelAsync();
        await Task.WhenAll(callers);
        await progress;

        return Result(system, configuration, histograms, operations, errors, seconds, settings.Concurrency, firstError) with { Cpu = CpuUsage(settings.Cpu, cpuBefore, cpuAfter, operations.Sum()) };
    }

    /// <summary>
    /// Fixed-size run: after the warm-up, callers take operation numbers from a shared counter until
    /// <paramref name="count"/> are taken; the window ends when the last measured one completes.
    /// Operations in flight when measuring starts are not counted.
    /// </summary>
    private static async Task<BenchResult> RunCountAsync(
        string system,
        string configuration,
        Func<int, CancellationToken, Task> operation,
        BenchSettings settings,
        int count,
        CancellationToken cancellationToken)
    {
        var histograms = Enumerable.Range(0, settings.Concurrency).Select(_ => new LongHistogram(HighestTrackableMicros, 3)).ToArray();
        var operations = new long[settings.Concurrency];
        var errors = new long[settings.Concurrency];
        string? firstError = null;
        var measuring = 0;
        long issued = 0;
        using var stopWarmup = CancellationTokenSource.CreateLinkedTokenSource(cancellationToken);

        async Task Caller(int index)
        {
            await Task.Yield();
            while (!cancellationToken.IsCancellationRequested)
            {
                var counted = Volatile.Read(ref measuring) == 1;
                if (counted && Interlocked.Increment(ref issued) > count)
                {
                    return;
                }

                if (!counted && stopWarmup.IsCancellationRequested)
                {
                    continue; // warm-up ended between the two reads; take a number next round
                }

                var start = Stopwatch.GetTimestamp();
                try
                {
                    await operation(index, cancellationToken);
                }
                catch (OperationCanceledException) when (cancellationToken.IsCancellationRequested)
                {
                    return;
                }
                catch (Exception ex) when (ex is not OutOfMemoryException)
                {
                    if (counted)
                    {
                        errors[index]++;
                        Interlocked.CompareExchange(ref firstError, ex.GetType().Name + ": " + ex.Message, null);
                    }

                    continue;
                }

                if (counted)
                {
                    var micros = Math.Min((long)Stopwatch.GetElapsedTime(start).TotalMicroseconds, HighestTrackableMicros);
                    histograms[index].RecordValue(Math.Max(1, micros));
                    operations[index]++;
                }
            }
        }

        var callers = Enumerable.Range(0, settings.Concurrency).Select(Caller).ToArray();
        await Task.Delay(settings.Warmup, cancellationToken);
        var cpuBefore = settings.Cpu?.Sample();
        var window = Stopwatch.StartNew();
        Volatile.Write(ref measuring, 1);
        await stopWarmup.CancelAsync();
        using var stopProgress = CancellationTokenSource.CreateLinkedTokenSource(cancellationToken);
        var progress = settings.ShowProgress ? ReportCountProgressAsync(system, operations, count, stopProgress.Token) : Task.CompletedTask;
        await Task.WhenAll(callers);
        var seconds = window.Elapsed.TotalSeconds;
        var cpuAfter = settings.Cpu?.Sample();
        await stopProgress.CancelAsync();
        await progress;

        return Result(system, configuration, histograms, operations, errors, seconds, settings.Concurrency, firstError) with { Cpu = CpuUsage(settings.Cpu, cpuBefore, cpuAfter, operations.Sum()) };
    }

    /// <summary>The meter's CPU per operation between the window's two samples (null without a meter).</summary>
    public static CpuUsage? CpuUsage(CpuMeter? meter, CpuSnapshot? before, CpuSnapshot? after, long operations) =>
        meter is null || before is null || after is null ? null : meter.Usage(before, after, operations);

    /// <summary>Merges the callers' histograms and counts into one result.</summary>
    private static BenchResult Result(string system, string configuration, LongHistogram[] histograms, long[] operations, long[] errors, double seconds, int concurrency, string? firstError)
    {
        var merged = new LongHistogram(HighestTrackableMicros, 3);
        foreach (var h in histograms)
        {
            merged.Add(h);
        }

        var total = merged.TotalCount;
        return new BenchResult
        {
            System = system,
            Configuration = configuration,
            Operations = operations.Sum(),
            Errors = errors.Sum(),
            Seconds = seconds,
            P50Ms = total == 0 ? 0 : merged.GetValueAtPercentile(50) / 1000.0,
            P99Ms = total == 0 ? 0 : merged.GetValueAtPercentile(99) / 1000.0,
            P999Ms = total == 0 ? 0 : merged.GetValueAtPercentile(99.9) / 1000.0,
            MaxMs = total == 0 ? 0 : merged.GetMaxValue() / 1000.0,
            Concurrency = concurrency,
            FirstError = firstError,
        };
    }

    private static async Task ReportCountProgressAsync(string system, long[] operations, int count, CancellationToken ct)
    {
        var watch = Stopwatch.StartNew();
        using var timer = new PeriodicTimer(TimeSpan.FromSeconds(1));
        try
        {
            while (await timer.WaitForNextTickAsync(ct))
            {
                var done = operations.Sum();
                Output.Progress($"  [{system}] {watch.Elapsed.TotalSeconds,4:F0} s  {done,9:N0}/{count:N0} done  {done / watch.Elapsed.TotalSeconds,9:N0} ops/s");
            }
        }
        catch (OperationCanceledException)
        {
            // Run finished.
        }
    }

    /// <summary>
    /// One line a second: the operations completed in it and the slowest of them, which shows whether
    /// a tail is spread over the window or comes from a few stalls.
    /// </summary>
    private static async Task ReportProgressAsync(string system, long[] operations, long[] slowest, TimeSpan duration, CancellationToken ct)
    {
        var watch = Stopwatch.StartNew();
        long last = 0;
        using var timer = new PeriodicTimer(TimeSpan.FromSeconds(1));
        try
        {
            while (await timer.WaitForNextTickAsync(ct) && watch.Elapsed < duration)
            {
                // Racy reads of per-caller counters are fine for a progress line.
                var now = operations.Sum();
                var slowestMs = Interlocked.Exchange(ref slowest[0], 0) / 1000.0;
                Output.Progress($"  [{system}] {watch.Elapsed.TotalSeconds,4:F0}/{duration.TotalSeconds:F0} s  {now - last,9:N0} ops/s  slowest {slowestMs,7:F1} ms");
                last = now;
            }
        }
        catch (OperationCanceledException)
        {
            // Run finished.
        }
    }
}
