namespace Granary.Transactions;

/// <summary>What a TCC participant does with an action (try).</summary>
public enum TccActionVerdict
{
    /// <summary>Run it, then call <see cref="TccBarrier.ActionDone"/>.</summary>
    Run = 1,

    /// <summary>Already ran (duplicate): succeed without running again.</summary>
    AlreadyDone = 2,

    /// <summary>Its compensation already ran (suspension guard): refuse, never run.</summary>
    RefusedAfterCompensation = 3,
}

/// <summary>What a TCC participant does with a compensation (cancel).</summary>
public enum TccCompensationVerdict
{
    /// <summary>Undo the action, then call <see cref="TccBarrier.Compensated"/>.</summary>
    Run = 1,

    /// <summary>The action never ran (empty rollback): do nothing; a barrier is recorded.</summary>
    NoOpWithoutAction = 2,

    /// <summary>Duplicate: already compensated.</summary>
    AlreadyCompensated = 3,
}

/// <summary>State of one saga step at one participant.</summary>
public enum TccStepState
{
    /// <summary>The action ran.</summary>
    Done = 1,

    /// <summary>The action ran and was undone.</summary>
    Compensated = 2,

    /// <summary>A compensation came first; the action is refused forever.</summary>
    Barrier = 3,
}

/// <summary>
/// TCC-style guards for saga participants, keyed by step (saga id + step): a compensation without
/// its action is a no-op that leaves a barrier (empty rollback), an action arriving after its
/// compensation is refused (suspension), and duplicates of either are absorbed.
/// </summary>
public sealed class TccBarrier
{
    private readonly Dictionary<string, TccStepState> _steps = new(StringComparer.Ordinal);

    /// <summary>Creates an empty barrier table or restores one.</summary>
    public TccBarrier(IEnumerable<KeyValuePair<string, TccStepState>>? steps = null)
    {
        foreach (var (k, v) in steps ?? [])
        {
            _steps[k] = v;
        }
    }

    /// <summary>Everything remembered.</summary>
    public IReadOnlyDictionary<string, TccStepState> Steps => _steps;

    /// <summary>Classifies an action.</summary>
    public TccActionVerdict CheckAction(string key) => _steps.GetValueOrDefault(key) switch
    {
        TccStepState.Done => TccActionVerdict.AlreadyDone,
        TccStepState.Compensated or TccStepState.Barrier => TccActionVerdict.RefusedAfterCompensation,
        _ => TccActionVerdict.Run,
    };

    /// <summary>Records that the action ran.</summary>
    public void ActionDone(string key) => _steps[key] = TccStepState.Done;

    /// <summary>Classifies a compensation; records the barrier for an empty rollback.</summary>
    public TccCompensationVerdict CheckCompensation(string key)
    {
        switch (_steps.GetValueOrDefault(key))
        {
            case TccStepState.Done:
                return TccCompensationVerdict.Run;
            case TccStepState.Compensated:
            case TccStepState.Barrier:
                return TccCompensationVerdict.AlreadyCompensated;
            default:
                _steps[key] = TccStepState.Barrier;
                return TccCompensationVerdict.NoOpWithoutAction;
        }
    }

    /// <summary>Records that the compensation ran.</summary>
    public void Compensated(string key) => _steps[key] = TccStepState.Compensated;
}
