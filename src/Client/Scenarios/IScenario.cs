using System.Diagnostics;
using System.Diagnostics.CodeAnalysis;
using System.Globalization;
using Granary.Cli.Cli;

namespace Granary.Cli.Scenarios;

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

/// <summary>
/// What a scenario runs against and writes to. A scenario prints a claim with <see cref="Check"/>
/// (which checks it and marks it FAILED when it does not hold), stops with <see cref="Require"/>
/// when something it builds on did not happen, and waits with <see cref="WaitUntilAsync"/>, which
/// stops it with a reason at the deadline instead of going on as if the wait had succeeded.
/// </summary>
public sealed class ScenarioContext(ClusterConnection connection, Output output)
{
    private static readonly TimeSpan PollInterval = TimeSpan.FromMilliseconds(50);
    private readonly List<string> _failures = [];

    /// <summary>The cluster.</summary>
    public ClusterConnection Connection { get; } = connection;

    /// <summary>The grain factory.</summary>
    public IGrainFactory Grains => Connection.Grains;

    /// <summary>Output.</summary>
    public Output Output { get; } = output;

    /// <summary>Facts the scenario reports (for <c>--json</c>).</summary>
    public Dictionary<string, object?> Facts { get; } = new(StringComparer.Ordinal);

    /// <summary>Claims printed with <see cref="Check"/> that did not hold.</summary>
    public IReadOnlyList<string> Failures => _failures;

    /// <summary>True while every checked claim held.</summary>
    public bool AllHeld => _failures.Count == 0;

    /// <summary>Writes a line of narration: a measurement or a description, never an unchecked claim.</summary>
    public void Say(string text) => Output.Line("  " + text);

    /// <summary>Records a fact and narrates it.</summary>
    public void Fact(string name, object? value, string text)
    {
        Facts[name] = value;
        Say(text);
    }

    /// <summary>
    /// Prints <paramref name="claim"/>, which the caller has just checked: when <paramref name="holds"/>
    /// is false the line is marked FAILED and the scenario fails. Returns <paramref name="holds"/>.
    /// </summary>
    public bool Check(bool holds, string claim)
    {
        if (holds)
        {
            Say(claim);
        }
        else
        {
            _failures.Add(claim);
            Say("FAILED: " + claim);
        }

        return holds;
    }

    /// <summary><see cref="Check"/> that also records a fact.</summary>
    public bool Check(string name, object? value, bool holds, string claim)
    {
        Facts[name] = value;
        return Check(holds, claim);
    }

    /// <summary>Stops the scenario (it fails with <paramref name="reason"/>) when a precondition does not hold.</summary>
    /// <exception cref="ScenarioStoppedException">The precondition does not hold.</exception>
    public static void Require([DoesNotReturnIf(false)] bool holds, string reason)
    {
        if (!holds)
        {
            throw new ScenarioStoppedException(reason);
        }
    }

    /// <summary>
    /// Polls <paramref name="condition"/> until it is true; at <paramref name="timeout"/> stops the
    /// scenario with "<paramref name="what"/> did not happen within ...". Returns the time it took.
    /// </summary>
    /// <exception cref="ScenarioStoppedException">The condition did not become true in time.</exception>
    public static async Task<TimeSpan> WaitUntilAsync(string what, TimeSpan timeout, Func<Task<bool>> condition, CancellationToken cancellationToken)
    {
        ArgumentNullException.ThrowIfNull(condition);
        var clock = Stopwatch.StartNew();
        while (!await condition())
        {
            if (clock.Elapsed >= timeout)
            {
                throw new ScenarioStoppedException(string.Create(CultureInfo.InvariantCulture, $"{what} did not happen within {timeout.TotalSeconds:0.#} s"));
            }

            await Task.Delay(PollInterval, cancellationToken); // poll interval; bounded by the timeout above
        }

        return clock.Elapsed;
    }
}

/// <summary>A scenario stopped because something it builds on did not happen; the message says what.</summary>
public sealed class ScenarioStoppedException(string reason) : Exception(reason);
