using System.Diagnostics;
using Granary.Bench.Cpu;
using HdrHistogram;

namespace Granary.Bench;

/// <summary>What one queue run measured. Rates are per second of the measured window.</summary>
public sealed record QueueBenchResult
{
    /// <summary>System name.</summary>
    public required string System { get; init; }

    /// <summary>Its configuration.</summary>
    public required string Configuration { get; init; }

    /// <summary>Producers.</summary>
    public required int Producers { get; init; }

    /// <summary>Consumers.</summary>
    public required int Consumers { get; init; }

    /// <summary>Depth built before the measurement.</summary>
    public required int PreloadedDepth { get; init; }

    /// <summary>Measured seconds.</summary>
    public required double Seconds { get; init; }

    /// <summary>Messages enqueued (confirmed) per second.</summary>
    public required double EnqueuedPerSecond { get; init; }

    /// <summary>Messages dequeued and acked per second.</summary>
    public required double AckedPerSecond { get; init; }

    /// <summary>Enqueue latency p50 (ms).</summary>
    public required double EnqueueP50Ms { get; init; }

    /// <summary>Enqueue latency p99 (ms).</summary>
    public required double EnqueueP99Ms { get; init; }

    /// <summary>Enqueue latency p99.9 (ms).</summary>
    public required double EnqueueP999Ms { get; init; }

    /// <summary>Dequeue+ack round p50 (ms), rounds that got messages.</summary>
    public required double ConsumeP50Ms { get; init; }

    /// <summary>Dequeue+ack round p99 (ms).</summary>
    public required double ConsumeP99Ms { get; init; }

    /// <summary>Failed operations in the window.</summary>
    public required long Errors { get; init; }

    /// <summary>The first failure, if any.</summary>
    public string? FirstError { get; init; }

    /// <summary>Which round this is (1 when there is one).</summary>
    public int Round { get; init; } = 1;

    /// <summary>CPU per message (acked, or enqueued without consumers) of every watched process over the measured window.</summary>
    public CpuUsage? Cpu { get; init; }
}

/// <summary>Closed-loop producers and consumers against one <see cref="IQueueBenchTarget"/>.</summary>
public static class QueueBenchRunner
{
    private const long HighestTrackableMicros = 60L * 1000 * 1000;

    /// <summary>Runs warm-up then the measured window; <paramref name="consumers"/> may be 0 (enqueue only).</summary>
    public static async Task<QueueBenchResult> RunAsync(
        IQueueBenchTarget target, int producers, int consumers, byte[] body, int preloadedDepth, TimeSpan warmup, TimeSpan duration, CancellationToken cancellationToken, CpuMeter? cpu = null)
    {
        ArgumentNullException.ThrowIfNull(target);
        var enqueueHistograms = Enumerable.Range(0, producers).Select(_ => new LongHistogram(HighestTrackableMicros, 3)).ToArray();
        var consumeHistograms = Enumerable.Range(0, consumers).Select(_ => new LongHistogram(HighestTrackableMicros, 3)).ToArray();
        var enqueued = new long[producers];
        var acked = new long[Math.Max(consumers, 1)];
        long errors = 0;
        string? firstError = null;
        var measuring = 0;
        using var stop = CancellationTokenSource.CreateLinkedTokenSource(cancellationToken);

        void Fail(Exception ex)
        {
            if (Volatile.Read(ref measuring) == 1)
            {
                Interlocked.Increment(ref errors);
                Interlocked.CompareExchange(ref firstError, ex.GetType().Name + ": " + ex.Message, null);
            }
        }

        void Record(LongHistogram histogram, long start)
        {
            var micros = Math.Min((long)Stopwatch.GetElapsedTime(start).TotalMicroseconds, HighestTrackableMicros);
            histogram.RecordValue(Math.Max(1, micros));
        }

        async Task ProduceAsync(int index)
        {
            await Task.Yield();

            // A body of its own per producer: messages coalesced into one call then come from different
            // producers (each has one enqueue in flight), so no serializer can send one body for several
            // messages of a call (Orleans tracks repeated instances within a message).
            var own = (byte[])body.Clone();
            while (!stop.IsCancellationRequested)
            {
                var start = Stopwatch.GetTimestamp();
                try
                {
                    await target.EnqueueAsync(index, own, stop.Token);
                }
                catch (OperationCanceledException) when (stop.IsCancellationRequested)
                {
                    return;
                }
                catch (Exception ex) when (ex is not OutOfMemoryException)
                {
                    Fail(ex);
                    continue;
                }

                if (Volatile.Read(ref measuring) == 1)
                {
                    Record(enqueueHistograms[index], start);
                    enqueued[index]++;
                }
            }
        }

        async Task ConsumeAsync(int index)
        {
            await Task.Yield();
            while (!stop.IsCancellationRequested)
            {
                var start = Stopwatch.GetTimestamp();
                int got;
                try
                {
                    got = await target.DequeueAndAckAsync(index, stop.Token);
                }
                catch (OperationCanceledException) when (stop.IsCancellationRequested)
                {
                    return;
                }
                catch (Exception ex) when (ex is not OutOfMemoryException)
                {
                    Fail(ex);
                    continue;
                }

                if (got > 0 && Volatile.Read(ref measuring) == 1)
                {
                    Record(consumeHistograms[index], start);
                    acked[index] += got;
                }
            }
        }

        var tasks = Enumerable.Range(0, producers).Select(ProduceAsync).Concat(Enumerable.Range(0, consumers).Select(ConsumeAsync)).ToList();
        await Task.Delay(warmup, cancellationToken);
        var cpuBefore = cpu?.Sample();
        Volatile.Write(ref measuring, 1);
        var window = Stopwatch.StartNew();
        await Task.Delay(duration, cancellationToken);
        Volatile.Write(ref measuring, 0);
        var seconds = window.Elapsed.TotalSeconds;
        var cpuAfter = cpu?.Sample();
        await stop.CancelAsync();
        await Task.WhenAll(tasks);

        static LongHistogram Merge(IEnumerable<LongHistogram> parts)
        {
            var merged = new LongHistogram(HighestTrackableMicros, 3);
            foreach (var h in parts)
            {
                merged.Add(h);
            }

            return merged;
        }

        static double At(LongHistogram h, double percentile) => h.TotalCount == 0 ? 0 : h.GetValueAtPercentile(percentile) / 1000.0;

        var enq = Merge(enqueueHistograms);
        var con = Merge(consumeHistograms);
        return new QueueBenchResult
        {
            System = target.System,
            Configuration = target.Configuration,
            Producers = producers,
            Consumers = consumers,
            PreloadedDepth = preloadedDepth,
            Seconds = seconds,
            EnqueuedPerSecond = enqueued.Sum() / seconds,
            AckedPerSecond = acked.Sum() / seconds,
            EnqueueP50Ms = At(enq, 50),
            EnqueueP99Ms = At(enq, 99),
            EnqueueP999Ms = At(enq, 99.9),
            ConsumeP50Ms = At(con, 50),
            ConsumeP99Ms = At(con, 99),
            Errors = errors,
            FirstError = firstError,
            Cpu = BenchRunner.CpuUsage(cpu, cpuBefore, cpuAfter, consumers > 0 ? acked.Sum() : enqueued.Sum()),
        };
    }
}
