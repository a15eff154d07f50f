using System.Collections.Concurrent;
using System.Diagnostics;

namespace Granary.Cli.Locks;

/// <summary>
/// Grants of one contended lock as clients saw them: who asked when, when it was granted, with
/// which token (if the system has tokens). Used to count hand-offs (owner changes), out-of-order
/// grants (FIFO violations) and the wait distribution, for Granary and its peers alike.
/// </summary>
public sealed class GrantLog
{
    /// <summary>A request sent this much earlier than another one counts as having arrived earlier.</summary>
    public static readonly TimeSpan FifoMargin = TimeSpan.FromMilliseconds(5);

    private readonly ConcurrentQueue<Grant> _grants = new();
    private long _measuringFrom = long.MaxValue;

    /// <summary>Now, in <see cref="Stopwatch"/> ticks.</summary>
    public static long Now => Stopwatch.GetTimestamp();

    /// <summary>Only grants requested after this call are analysed (call it when measuring starts).</summary>
    public void StartMeasuring() => Interlocked.Exchange(ref _measuringFrom, Now);

    /// <summary>Records one grant.</summary>
    public void Record(int worker, long requestedAt, long grantedAt, long? token, long arrival = 0) => _grants.Enqueue(new Grant(worker, requestedAt, grantedAt, token, arrival));

    /// <summary>Analyses what was recorded while measuring.</summary>
    public GrantAnalysis Analyse()
    {
        var from = Interlocked.Read(ref _measuringFrom);
        var grants = _grants.Where(g => g.RequestedAt >= from).ToList();
        var ordered = grants.All(g => g.Token is not null)
            ? grants.OrderBy(g => g.Token).ToList()
            : grants.OrderBy(g => g.GrantedAt).ToList();
        var handOffs = 0;
        for (var i = 1; i < ordered.Count; i++)
        {
            handOffs += ordered[i].Worker != ordered[i - 1].Worker ? 1 : 0;
        }

        // A grant is out of order when some request sent clearly before it was granted after it.
        var margin = (long)(FifoMargin.TotalSeconds * Stopwatch.Frequency);
        var outOfOrder = 0;
        var laterMin = long.MaxValue;
        for (var i = ordered.Count - 1; i >= 0; i--)
        {
            if (laterMin < ordered[i].RequestedAt - margin)
            {
                outOfOrder++;
            }

            laterMin = Math.Min(laterMin, ordered[i].RequestedAt);
        }

        var tokenViolations = 0;
        if (grants.All(g => g.Token is not null))
        {
            var byTime = grants.OrderBy(g => g.GrantedAt).ToList();
            for (var i = 1; i < byTime.Count; i++)
            {
                tokenViolations += byTime[i].Token > byTime[i - 1].Token ? 0 : 1;
            }
        }

        // Server-side FIFO: in token (grant) order, the lock's own arrival numbers must increase.
        var serverFifoViolations = 0;
        if (grants.All(g => g.Token is not null && g.Arrival > 0))
        {
            for (var i = 1; i < ordered.Count; i++)
            {
                serverFifoViolations += ordered[i].Arrival > ordered[i - 1].Arrival ? 0 : 1;
            }
        }
        else
        {
            serverFifoViolations = -1;
        }

        var waits = grants.Select(g => (g.GrantedAt - g.RequestedAt) * 1000.0 / Stopwatch.Frequency).Order().ToArray();
        return new GrantAnalysis(
            grants.Count,
            handOffs,
            outOfOrder,
            grants.Count == 0 ? 0 : (double)outOfOrder / grants.Count,
            Percentile(waits, 50),
            Percentile(waits, 99),
            Percentile(waits, 99.9),
            waits.Length == 0 ? 0 : waits[^1],
            grants.GroupBy(g => g.Worker).Select(g => g.Count()).DefaultIfEmpty(0).Min(),
            grants.GroupBy(g => g.Worker).Select(g => g.Count()).DefaultIfEmpty(0).Max(),
            tokenViolations,
            serverFifoViolations);
    }

    private static double Percentile(double[] sorted, double p) =>
        sorted.Length == 0 ? 0 : sorted[Math.Clamp((int)Math.Ceiling(p / 100 * sorted.Length) - 1, 0, sorted.Length - 1)];

    private sealed record Grant(int Worker, long RequestedAt, long GrantedAt, long? Token, long Arrival);
}

/// <summary>
/// What a <see cref="GrantLog"/> shows. <see cref="OutOfOrderGrants"/> is measured from the
/// clients (a request sent at least <see cref="GrantLog.FifoMargin"/> before another was granted
/// after it); <see cref="ArrivalOrderViolations"/> checks the lock's own arrival numbering against
/// grant order (-1 when the system does not report arrivals).
/// </summary>
public sealed record GrantAnalysis(
    int Grants,
    int HandOffs,
    int OutOfOrderGrants,
    double OutOfOrderFraction,
    double WaitP50Ms,
    double WaitP99Ms,
    double WaitP999Ms,
    double WaitMaxMs,
    int FewestGrantsPerWorker,
    int MostGrantsPerWorker,
    int TokenOrderViolations,
    int ArrivalOrderViolations);
