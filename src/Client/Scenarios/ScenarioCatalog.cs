namespace Granary.Client.Scenarios;

/// <summary>Every scenario, in tour order. Families add theirs here.</summary>
public static class ScenarioCatalog
{
    /// <summary>The scenarios.</summary>
    public static IReadOnlyList<IScenario> All { get; } =
    [
        new ShardingScenario(),
        new TasksScenario(),
        new LoadBalancingScenario(),
    ];

    /// <summary>Finds a scenario by name (case-insensitive), or null.</summary>
    public static IScenario? Find(string name) =>
        All.FirstOrDefault(s => string.Equals(s.Name, name, StringComparison.OrdinalIgnoreCase));
}
