namespace Granary.Scheduling;

// TaskState and RunOutcome live in Granary.Core, which has no Orleans dependency, so they carry
// no codec of their own; these surrogates let them cross the wire as their integer values.

/// <summary>Wire form of <see cref="TaskState"/>.</summary>
[GenerateSerializer, Alias("granary.scheduling.task-state")]
public struct TaskStateSurrogate
{
    /// <summary>The enum's integer value.</summary>
    [Id(0)]
    public int Value;
}

/// <summary>Converts <see cref="TaskState"/> to and from its surrogate.</summary>
[RegisterConverter]
public sealed class TaskStateSurrogateConverter : IConverter<TaskState, TaskStateSurrogate>
{
    /// <inheritdoc/>
    public TaskState ConvertFromSurrogate(in TaskStateSurrogate surrogate) => (TaskState)surrogate.Value;

    /// <inheritdoc/>
    public TaskStateSurrogate ConvertToSurrogate(in TaskState value) => new() { Value = (int)value };
}

/// <summary>Wire form of <see cref="RunOutcome"/>.</summary>
[GenerateSerializer, Alias("granary.scheduling.run-outcome")]
public struct RunOutcomeSurrogate
{
    /// <summary>The enum's integer value.</summary>
    [Id(0)]
    public int Value;
}

/// <summary>Converts <see cref="RunOutcome"/> to and from its surrogate.</summary>
[RegisterConverter]
public sealed class RunOutcomeSurrogateConverter : IConverter<RunOutcome, RunOutcomeSurrogate>
{
    /// <inheritdoc/>
    public RunOutcome ConvertFromSurrogate(in RunOutcomeSurrogate surrogate) => (RunOutcome)surrogate.Value;

    /// <inheritdoc/>
    public RunOutcomeSurrogate ConvertToSurrogate(in RunOutcome value) => new() { Value = (int)value };
}
