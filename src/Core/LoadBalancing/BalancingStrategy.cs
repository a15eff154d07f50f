namespace Granary.LoadBalancing;

/// <summary>The built-in strategies; <see cref="LoadBalancerFactory"/> maps them to and from their names.</summary>
public enum BalancingStrategy
{
    /// <summary><c>round-robin</c>: <see cref="RoundRobinBalancer"/>.</summary>
    RoundRobin,

    /// <summary><c>smooth-weighted</c>: <see cref="SmoothWeightedRoundRobinBalancer"/>.</summary>
    SmoothWeighted,

    /// <summary><c>least-connections</c>: <see cref="LeastConnectionsBalancer"/>.</summary>
    LeastConnections,

    /// <summary><c>weighted-least-connections</c>: <see cref="WeightedLeastConnectionsBalancer"/>.</summary>
    WeightedLeastConnections,

    /// <summary><c>source-hash</c>: <see cref="SourceHashBalancer"/>.</summary>
    SourceHash,

    /// <summary><c>p2c</c>: <see cref="PowerOfTwoChoicesBalancer"/>.</summary>
    PowerOfTwoChoices,

    /// <summary><c>ewma</c>: <see cref="EwmaLatencyBalancer"/>.</summary>
    Ewma,
}
