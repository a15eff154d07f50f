using System.Collections.Immutable;

namespace Granary.LoadBalancing;

/// <summary>
/// Latency-aware power of two choices (as in Finagle and Linkerd): the cost of a member is its
/// moving-average latency times (in-flight + 1), so slow or queued members lose the comparison.
/// A member with no latency yet costs the average of the measured ones, so it gets tried instead
/// of being starved or flooded.
/// </summary>
public sealed class EwmaLatencyBalancer : LoadBalancerBase
{
    /// <summary>The strategy name.</summary>
    public const string StrategyName = "ewma";

    // Keeps a zero-latency average from making in-flight count irrelevant.
    private const double MinLatencyMilliseconds = 0.001;

    private readonly RandomSource _random;

    /// <summary>Creates a balancer with no members.</summary>
    /// <param name="smoothing">Weight of the newest latency sample, in (0, 1]: higher reacts faster, lower is steadier.</param>
    /// <param name="random">A seeded source for repeatable choices (tests); null uses a shared thread-safe source.</param>
    public EwmaLatencyBalancer(double smoothing = DefaultLatencySmoothing, Random? random = null)
        : base(StrategyName, smoothing)
    {
        _random = new RandomSource(random);
    }

    /// <inheritdoc />
    protected override BalancerMemberState SelectCore(BalancerContext context, ImmutableArray<BalancerMemberState> healthy)
    {
        if (healthy.Length == 1)
        {
            return healthy[0];
        }

        var (i, j) = _random.TwoDistinct(healthy.Length);
        var a = healthy[i];
        var b = healthy[j];
        var latencyA = a.LatencyEwmaMilliseconds;
        var latencyB = b.LatencyEwmaMilliseconds;
        if (latencyA is null || latencyB is null)
        {
            var neutral = NeutralLatency(healthy);
            latencyA ??= neutral;
            latencyB ??= neutral;
        }

        return Cost(latencyB.Value, b) < Cost(latencyA.Value, a) ? b : a;
    }

    private static double Cost(double latency, BalancerMemberState member) =>
        Math.Max(latency, MinLatencyMilliseconds) * (member.InFlight + 1);

    // The mean of the measured members; any positive constant when none is measured yet,
    // which reduces the comparison to in-flight counts.
    private static double NeutralLatency(ImmutableArray<BalancerMemberState> healthy)
    {
        double sum = 0;
        var count = 0;
        foreach (var member in healthy)
        {
            if (member.LatencyEwmaMilliseconds is { } latency)
            {
                sum += latency;
                count++;
            }
        }

        return count == 0 ? 1.0 : sum / count;
    }
}
