using System.Diagnostics;
using HdrHistogram;

namespace Granary.Client.Bench;

/// <summary>How a closed-loop run is shaped.</summary>
public sealed record BenchSettings(int Concurrency, TimeSpan Warmup, TimeSpan Duration, bool ShowProgress);

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
        var histograms = Enumerable.Range(0, settings.Concurrency).Select(_ => new LongHistogram(HighestTrackableMicros, 3)).ToArray();
        var operations = new long[settings.Concurrency];
        var errors = new long[settings.Concurrency];
        string? firstError = null;
        var measuring = 0;
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
                }
            }
        }

        var callers = Enumerable.Range(0, settings.Concurrency).Select(Caller).ToArray();
        await Task.Delay(settings.Warmup, cancellationToken);
        Volatile.Write(ref measuring, 1);
        var window = Stopwatch.StartNew();
        var progress = settings.ShowProgress ? ReportProgressAsync(system, operations, settings.Duration, stop.Token) : Task.CompletedTask;
        await Task.Delay(settings.Duration, cancellationToken);
        Volatile.Write(ref measuring, 0);
        var seconds = window.Elapsed.TotalSeconds;
        await stop.CancelAsync();
        await Task.WhenAll(callers);
        await progress;

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
            Concurrency = settings.Concurrency,
            FirstError = firstError,
        };
    }

    private static async Task ReportProgressAsync(string system, long[] operations, TimeSpan duration, CancellationToken ct)
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
                Cli.Output.Progress($"  [{system}] {watch.Elapsed.TotalSeconds,4:F0}/{duration.TotalSeconds:F0} s  {now - last,9:N0} ops/s");
                last = now;
            }
        }
        catch (OperationCanceledException)
        {
            // Run finished.
        }
    }
}
