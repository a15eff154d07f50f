using Orleans.Runtime.Diagnostics;

namespace Granary.Tests.Cluster.Scheduling;

/// <summary>
/// Counts grain activations and grain timers of the in-process silos from Orleans' own diagnostic
/// events (<see cref="GrainLifecycleEvents"/>, <see cref="GrainTimerEvents"/>): every one created
/// since the probe started, and those still alive. Only silos in this process are seen.
/// </summary>
internal sealed class GrainActivityProbe : IDisposable
{
    private readonly Lock _lock = new();
    private readonly Dictionary<IGrainContext, GrainId> _liveActivations = new(ReferenceEqualityComparer.Instance);
    private readonly Dictionary<IGrainTimer, GrainId> _liveTimers = new(ReferenceEqualityComparer.Instance);
    private readonly List<GrainId> _activationsCreated = [];
    private readonly List<GrainId> _timersCreated = [];
    private readonly IDisposable _lifecycle;
    private readonly IDisposable _timers;

    public GrainActivityProbe()
    {
        _lifecycle = GrainLifecycleEvents.AllEvents.Subscribe(new Observer<GrainLifecycleEvents.LifecycleEvent>(OnLifecycle));
        _timers = GrainTimerEvents.AllEvents.Subscribe(new Observer<GrainTimerEvents.TimerEvent>(OnTimer));
    }

    /// <summary>Activations created since the probe started whose grain id matches.</summary>
    public int ActivationsCreated(Func<GrainId, bool> match) => Count(_activationsCreated, match);

    /// <summary>Activations alive now (created since the probe started, not yet deactivated) whose grain id matches.</summary>
    public int LiveActivations(Func<GrainId, bool> match) => Count(_liveActivations.Values, match);

    /// <summary>Timers created since the probe started by grains whose id matches.</summary>
    public int TimersCreated(Func<GrainId, bool> match) => Count(_timersCreated, match);

    /// <summary>Timers alive now (created since the probe started, not disposed) of grains whose id matches.</summary>
    public int LiveTimers(Func<GrainId, bool> match) => Count(_liveTimers.Values, match);

    /// <summary>Matches grains of <paramref name="grainType"/> whose key satisfies <paramref name="key"/>.</summary>
    public static Func<GrainId, bool> Grain(string grainType, Func<string, bool> key) =>
        id => string.Equals(id.Type.ToString(), grainType, StringComparison.Ordinal) && key(id.Key.ToString()!);

    public void Dispose()
    {
        _lifecycle.Dispose();
        _timers.Dispose();
    }

    private int Count(IEnumerable<GrainId> ids, Func<GrainId, bool> match)
    {
        lock (_lock)
        {
            return ids.Count(match);
        }
    }

    private void OnLifecycle(GrainLifecycleEvents.LifecycleEvent e)
    {
        lock (_lock)
        {
            switch (e)
            {
                case GrainLifecycleEvents.Created:
                    _activationsCreated.Add(e.GrainContext.GrainId);
                    _liveActivations[e.GrainContext] = e.GrainContext.GrainId;
                    break;
                case GrainLifecycleEvents.Deactivated:
                    _liveActivations.Remove(e.GrainContext);
                    break;
            }
        }
    }

    private void OnTimer(GrainTimerEvents.TimerEvent e)
    {
        lock (_lock)
        {
            switch (e)
            {
                case GrainTimerEvents.Created:
                    _timersCreated.Add(e.GrainContext.GrainId);
                    _liveTimers[e.Timer] = e.GrainContext.GrainId;
                    break;
                case GrainTimerEvents.Disposed:
                    _liveTimers.Remove(e.Timer);
                    break;
            }
        }
    }

    private sealed class Observer<T>(Action<T> onNext) : IObserver<T>
    {
        public void OnCompleted()
        {
        }

        public void OnError(Exception error)
        {
        }

        public void OnNext(T value) => onNext(value);
    }
}
