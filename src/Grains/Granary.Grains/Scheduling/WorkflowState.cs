namespace Granary.Scheduling;

/// <summary>Persisted state of <see cref="WorkflowGrain"/>.</summary>
[GenerateSerializer, Alias("granary.scheduling.workflow-state")]
public sealed class WorkflowState
{
    /// <summary>False until started.</summary>
    [Id(0)] public bool Started { get; set; }

    /// <summary>Group or chord.</summary>
    [Id(1)] public WorkflowKind Kind { get; set; }

    /// <summary>The member submissions (ids are <c>workflow.i</c>).</summary>
    [Id(2)] public List<TaskSubmission> Members { get; set; } = [];

    /// <summary>Chord callback.</summary>
    [Id(3)] public TaskSubmission? Callback { get; set; }

    /// <summary>Terminal state of each finished member, by index.</summary>
    [Id(4)] public Dictionary<int, TaskState> Done { get; set; } = [];

    /// <summary>Result JSON of each succeeded member, by index.</summary>
    [Id(5)] public Dictionary<int, string?> Results { get; set; } = [];

    /// <summary>Set (and stored) before the callback is submitted; the callback id is deterministic.</summary>
    [Id(6)] public bool CallbackSubmitted { get; set; }
}
