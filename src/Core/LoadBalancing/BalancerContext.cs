namespace Granary.LoadBalancing;

/// <summary>
/// What a caller knows about the request being routed. Only <see cref="SourceHashBalancer"/>
/// reads <see cref="Key"/> today; the struct exists so strategies can grow inputs without
/// changing <see cref="ILoadBalancer.Select"/>.
/// </summary>
/// <param name="Key">An affinity key (user, session, tenant): equal keys go to the same member while it is healthy.</param>
public readonly record struct BalancerContext(string? Key = null);
