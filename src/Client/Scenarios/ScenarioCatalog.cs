namespace Granary.Cli.Scenarios;

/// <summary>Every scenario, in tour order. Families add theirs here.</summary>
public static class ScenarioCatalog
{
    /// <summary>The scenarios.</summary>
    public static IReadOnlyList<IScenario> All { get; } =
    [
        new ShardingScenario(),
        new LockFencingScenario(),
        new LockContentionScenario(),
        new Caching.CacheBasicsScenario(),
        new Caching.MemcachedCasScenario(),
        new Caching.CacheReshardingScenario(),
        new Caching.CacheConsistencyScenario(),
        new WorkQueueScenario(),
        new BrokerRoutingScenario(),
        new Transactions.CheckoutScenario(),
        new Transactions.BankTransfersScenario(),
        new Transactions.SagaScenario(),
        new Transactions.ThreePhaseCommitScenario(),
        new TasksScenario(),
        new LoadBalancingScenario(),
    ];

    /// <summary>Finds a scenario by name (case-insensitive), or null.</summary>
    public static IScenario? Find(string name) =>
        All.FirstOrDefault(s => string.Equals(s.Name, name, StringComparison.OrdinalIgnoreCase));
}
