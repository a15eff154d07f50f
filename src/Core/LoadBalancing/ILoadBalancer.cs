namespace Granary.LoadBalancing;

/// <summary>
/// Picks one member of a set for each call. Implementations are thread-safe: dispatchers call
/// <see cref="Select"/>, <see cref="OnStart"/> and <see cref="OnComplete"/> concurrently while a
/// membership or health watcher calls <see cref="SetMembers"/> and <see cref="SetHealth"/>.
/// </summary>
/// <example><code>
/// ILoadBalancer lb = LoadBalancerFactory.Create("least-connections");
/// lb.SetMembers([new("silo-a"), new("silo-b", weight: 2)]);
/// string? id = lb.Select(new BalancerContext(Key: "user:42"));   // null: no healthy member
/// lb.OnStart(id!); /* call */ lb.OnComplete(id!, elapsed, success: true);
/// </code></example>
public interface ILoadBalancer
{
    /// <summary>The strategy name, as accepted by <see cref="LoadBalancerFactory.Parse"/>.</summary>
    string Name { get; }

    /// <summary>The current members, healthy or not, in the order last given to <see cref="SetMembers"/>.</summary>
    IReadOnlyList<BalancerMember> Members { get; }

    /// <summary>Picks a healthy member id, or returns null when there is none. Does not count the call as started.</summary>
    string? Select(BalancerContext context = default);

    /// <summary>Records that a call to <paramref name="memberId"/> started (in-flight + 1). Unknown ids are ignored.</summary>
    void OnStart(string memberId);

    /// <summary>
    /// Records that a call finished (in-flight - 1, never below 0) with its latency and outcome.
    /// Unknown ids are ignored, since a member may be removed while a call to it is in flight.
    /// </summary>
    void OnComplete(string memberId, TimeSpan latency, bool success);

    /// <summary>
    /// Replaces the member set. Members that remain keep their in-flight count, latency and health;
    /// new members start healthy with no history; removed members' state is dropped.
    /// </summary>
    /// <exception cref="ArgumentException">Two members share an id.</exception>
    void SetMembers(IReadOnlyList<BalancerMember> members);

    /// <summary>Marks a member healthy or unhealthy; unhealthy members are skipped by every strategy.</summary>
    /// <returns>False when no member has that id.</returns>
    bool SetHealth(string memberId, bool healthy);

    /// <summary>A snapshot of every member's bookkeeping.</summary>
    IReadOnlyList<BalancerMemberStatus> GetStatus();
}
