namespace Granary.LoadBalancing;

/// <summary>
/// Live per-member bookkeeping that strategies read while selecting. It is updated lock-free
/// by <see cref="ILoadBalancer.OnStart"/> and <see cref="ILoadBalancer.OnComplete"/>, so values
/// read together may be from slightly different instants; strategies tolerate that.
/// </summary>
public sealed class BalancerMemberState
{
    private int _weight;
    private volatile bool _healthy = true;
    private long _inFlight;
    private long _completed;
    private long _failed;
    private long _latencyBits = BitConverter.DoubleToInt64Bits(double.NaN);

    internal BalancerMemberState(string id, int weight)
    {
        Id = id;
        _weight = weight;
    }

    /// <summary>The member id.</summary>
    public string Id { get; }

    /// <summary>The member's weight (updated in place when <see cref="ILoadBalancer.SetMembers"/> changes it).</summary>
    public int Weight => Volatile.Read(ref _weight);

    /// <summary>False while the member is marked unhealthy.</summary>
    public bool IsHealthy => _healthy;

    /// <summary>Calls started and not yet completed.</summary>
    public long InFlight => Interlocked.Read(ref _inFlight);

    /// <summary>Calls completed, successful or not.</summary>
    public long Completed => Interlocked.Read(ref _completed);

    /// <summary>Calls completed unsuccessfully.</summary>
    public long Failed => Interlocked.Read(ref _failed);

    /// <summary>Exponentially weighted moving average of latency in milliseconds; null before the first completion.</summary>
    public double? LatencyEwmaMilliseconds
    {
        get
        {
            var value = BitConverter.Int64BitsToDouble(Interlocked.Read(ref _latencyBits));
            return double.IsNaN(value) ? null : value;
        }
    }

    /// <summary>Smooth weighted round robin's running weight; only touched under that balancer's lock.</summary>
    internal long CurrentWeight { get; set; }

    internal void SetWeight(int weight) => Volatile.Write(ref _weight, weight);

    internal void SetHealthy(bool healthy) => _healthy = healthy;

    internal void Start() => Interlocked.Increment(ref _inFlight);

    internal void Complete(TimeSpan latency, bool success, double smoothing)
    {
        // Never below zero: a completion can arrive for a call started before this state existed.
        var current = Interlocked.Read(ref _inFlight);
        while (current > 0)
        {
            var seen = Interlocked.CompareExchange(ref _inFlight, current - 1, current);
            if (seen == current)
            {
                break;
            }

            current = seen;
        }

        Interlocked.Increment(ref _completed);
        if (!success)
        {
            Interlocked.Increment(ref _failed);
        }

        var sample = Math.Max(0.0, latency.TotalMilliseconds);
        var oldBits = Interlocked.Read(ref _latencyBits);
        while (true)
        {
            var old = BitConverter.Int64BitsToDouble(oldBits);
            var seeded = !double.IsNaN(old);

            // A failure counts as at least twice the current average, so a member that fails fast
            // does not look fast to latency-aware strategies.
            var effective = success ? sample : 2.0 * Math.Max(sample, seeded ? old : 0.0);
            var updated = seeded ? old + (smoothing * (effective - old)) : effective;
            var seen = Interlocked.CompareExchange(ref _latencyBits, BitConverter.DoubleToInt64Bits(updated), oldBits);
            if (seen == oldBits)
            {
                return;
            }

            oldBits = seen;
        }
    }

    internal BalancerMemberStatus ToStatus()
    {
        var latency = LatencyEwmaMilliseconds;
        return new BalancerMemberStatus(
            Id,
            Weight,
            IsHealthy,
            InFlight,
            Completed,
            Failed,
            latency is { } ms ? TimeSpan.FromMilliseconds(ms) : null);
    }
}
