namespace Granary.LoadBalancing;

/// <summary>
/// Builds balancers from configuration names (<c>"least-connections"</c>) so the strategy can be
/// chosen in settings without code changes.
/// </summary>
/// <example><code>ILoadBalancer lb = LoadBalancerFactory.Create(config["Balancer"] ?? "p2c");</code></example>
public static class LoadBalancerFactory
{
    private static readonly (BalancingStrategy Strategy, string Name)[] Table =
    [
        (BalancingStrategy.RoundRobin, RoundRobinBalancer.StrategyName),
        (BalancingStrategy.SmoothWeighted, SmoothWeightedRoundRobinBalancer.StrategyName),
        (BalancingStrategy.LeastConnections, LeastConnectionsBalancer.StrategyName),
        (BalancingStrategy.WeightedLeastConnections, WeightedLeastConnectionsBalancer.StrategyName),
        (BalancingStrategy.SourceHash, SourceHashBalancer.StrategyName),
        (BalancingStrategy.PowerOfTwoChoices, PowerOfTwoChoicesBalancer.StrategyName),
        (BalancingStrategy.Ewma, EwmaLatencyBalancer.StrategyName),
    ];

    /// <summary>Every valid strategy name, in <see cref="BalancingStrategy"/> order.</summary>
    public static IReadOnlyList<string> Names { get; } = [.. Table.Select(t => t.Name)];

    /// <summary>The configuration name of <paramref name="strategy"/>.</summary>
    public static string GetName(BalancingStrategy strategy)
    {
        foreach (var (s, name) in Table)
        {
            if (s == strategy)
            {
                return name;
            }
        }

        throw new ArgumentOutOfRangeException(nameof(strategy), strategy, "Unknown balancing strategy.");
    }

    /// <summary>Parses a strategy name (case-insensitive, surrounding spaces ignored).</summary>
    public static bool TryParse(string? name, out BalancingStrategy strategy)
    {
        var trimmed = name?.Trim();
        foreach (var (s, n) in Table)
        {
            if (string.Equals(n, trimmed, StringComparison.OrdinalIgnoreCase))
            {
                strategy = s;
                return true;
            }
        }

        strategy = default;
        return false;
    }

    /// <summary>Parses a strategy name (case-insensitive).</summary>
    /// <exception cref="ArgumentException">The name is not one of <see cref="Names"/>; the message lists them.</exception>
    public static BalancingStrategy Parse(string name)
    {
        ArgumentNullException.ThrowIfNull(name);
        return TryParse(name, out var strategy)
            ? strategy
            : throw new ArgumentException(
                $"Unknown load-balancing strategy '{name}'. Valid names: {string.Join(", ", Names)}.",
                nameof(name));
    }

    /// <summary>Creates a balancer, with no members, for a strategy name.</summary>
    /// <exception cref="ArgumentException">The name is not one of <see cref="Names"/>.</exception>
    public static ILoadBalancer Create(string name, LoadBalancerOptions? options = null) => Create(Parse(name), options);

    /// <summary>Creates a balancer, with no members, for a strategy.</summary>
    public static ILoadBalancer Create(BalancingStrategy strategy, LoadBalancerOptions? options = null)
    {
        options ??= new LoadBalancerOptions();
        return strategy switch
        {
            BalancingStrategy.RoundRobin => new RoundRobinBalancer(),
            BalancingStrategy.SmoothWeighted => new SmoothWeightedRoundRobinBalancer(),
            BalancingStrategy.LeastConnections => new LeastConnectionsBalancer(),
            BalancingStrategy.WeightedLeastConnections => new WeightedLeastConnectionsBalancer(),
            BalancingStrategy.SourceHash => new SourceHashBalancer(options.VirtualNodesPerWeight),
            BalancingStrategy.PowerOfTwoChoices => new PowerOfTwoChoicesBalancer(NewRandom(options)),
            BalancingStrategy.Ewma => new EwmaLatencyBalancer(options.LatencySmoothing, NewRandom(options)),
            _ => throw new ArgumentOutOfRangeException(nameof(strategy), strategy, "Unknown balancing strategy."),
        };
    }

    private static Random? NewRandom(LoadBalancerOptions options) => options.Seed is { } seed ? new Random(seed) : null;
}
