using Granary.Scheduling;

namespace Granary.Cli.Scenarios.Scheduling;

/// <summary>
/// The run journal of the silos of an <see cref="InProcessTaskCluster"/>, kept in memory: every
/// handler start and finish with the silo it happened on, so the scenario sees what handlers are
/// doing right now and counts real runs rather than the task records' claims.
/// </summary>
internal sealed class RecordedRuns
{
    private readonly List<(string Silo, TaskRunEvent Event)> _events = [];
    private readonly HashSet<string> _silenced = new(StringComparer.Ordinal);
    private readonly Lock _lock = new();

    /// <summary>A journal that tags each event with <paramref name="silo"/>.</summary>
    public ITaskRunJournal For(string silo) => new SiloJournal(silo, this);

    /// <summary>From now on nothing from <paramref name="silo"/> is recorded: it is dead, as a killed process writes nothing.</summary>
    public void Silence(string silo)
    {
        lock (_lock)
        {
            _silenced.Add(silo);
        }
    }

    /// <summary>Everything recorded so far, in order.</summary>
    public IReadOnlyList<(string Silo, TaskRunEvent Event)> Events
    {
        get
        {
            lock (_lock)
            {
                return [.. _events];
            }
        }
    }

    /// <summary>Runs started on <paramref name="silo"/> that have not finished (or been abandoned), by task id.</summary>
    public IReadOnlyList<TaskRunEvent> InProgressOn(string silo)
    {
        var open = new Dictionary<(string Task, int Attempt), TaskRunEvent>();
        foreach (var (s, e) in Events)
        {
            if (!string.Equals(s, silo, StringComparison.Ordinal))
            {
                continue;
            }

            if (e.Kind == TaskRunEventKind.Started)
            {
                open[(e.TaskId, e.Attempt)] = e;
            }
            else
            {
                open.Remove((e.TaskId, e.Attempt));
            }
        }

        return [.. open.Values];
    }

    private sealed class SiloJournal(string silo, RecordedRuns runs) : ITaskRunJournal
    {
        public void Append(TaskRunEvent runEvent)
        {
            lock (runs._lock)
            {
                if (!runs._silenced.Contains(silo))
                {
                    runs._events.Add((silo, runEvent));
                }
            }
        }
    }
}
