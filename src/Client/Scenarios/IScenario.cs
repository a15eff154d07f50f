using Granary.Client.Cli;

namespace Granary.Client.Scenarios;

/// <summary>A guided run that shows one guarantee (or its absence) and checks it.</summary>
public interface IScenario
{
    /// <summary>Name used on the command line (<c>granary scenario NAME</c>).</summary>
    string Name { get; }

    /// <summary>One line saying what it shows.</summary>
    string Title { get; }

    /// <summary>Runs the scenario; returns false when what it demonstrates did not hold.</summary>
    Task<bool> RunAsync(ScenarioContext context, CancellationToken cancellationToken);
}

/// <summary>What a scenario runs against and writes to.</summary>
public sealed class ScenarioContext(ClusterConnection connection, Output output)
{
    /// <summary>The cluster.</summary>
    public ClusterConnection Connection { get; } = connection;

    /// <summary>The grain factory.</summary>
    public IGrainFactory Grains => Connection.Grains;

    /// <summary>Output.</summary>
    public Output Output { get; } = output;

    /// <summary>Facts the scenario reports (for <c>--json</c>).</summary>
    public Dictionary<string, object?> Facts { get; } = new(StringComparer.Ordinal);

    /// <summary>Writes a line of narration.</summary>
    public void Say(string text) => Output.Line("  " + text);

    /// <summary>Records a fact and narrates it.</summary>
    public void Fact(string name, object? value, string text)
    {
        Facts[name] = value;
        Say(text);
    }
}
