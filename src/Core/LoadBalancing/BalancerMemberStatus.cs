namespace Granary.LoadBalancing;

/// <summary>A point-in-time copy of one member's bookkeeping, for diagnostics and tests.</summary>
/// <param name="Id">The member id.</param>
/// <param name="Weight">The member's weight.</param>
/// <param name="Healthy">False when the member was marked unhealthy and is being skipped.</param>
/// <param name="InFlight">Calls started and not yet completed.</param>
/// <param name="Completed">Calls completed, successful or not.</param>
/// <param name="Failed">Calls completed with <c>success: false</c>.</param>
/// <param name="LatencyEwma">Smoothed latency, or null before the first completion.</param>
public sealed record BalancerMemberStatus(
    string Id,
    int Weight,
    bool Healthy,
    long InFlight,
    long Completed,
    long Failed,
    TimeSpan? LatencyEwma);
