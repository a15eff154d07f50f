using Granary.LoadBalancing;

namespace Granary.Scheduling;

/// <summary>A worker as the dispatcher sees it: id, relative weight and how many tasks it runs at once.</summary>
public sealed record WorkerSlot(string Id, int Weight, int Capacity);

/// <summary>
/// Chooses the worker for each task with a pluggable <see cref="ILoadBalancer"/> (one strategy per
/// queue) while respecting each worker's capacity: a worker with every slot busy is taken out of
/// the balancer's healthy set until a slot frees. Single-threaded (a scheduler grain owns one).
/// </summary>
/// <example><code>
/// var d = new WorkerDispatcher("smooth-weighted");
/// d.SetWorkers([new("w1", 5, 8), new("w2", 1, 8)]);
/// string? w = d.Pick(taskKey);   // null: every worker is full or none is registered
/// d.Release(w!, elapsed, success: true);
/// </code></example>
public sealed class WorkerDispatcher
{
    private readonly Dictionary<string, WorkerSlot> _workers = new(StringComparer.Ordinal);
    private readonly Dictionary<string, int> _inFlight = new(StringComparer.Ordinal);
    private readonly Dictionary<string, long> _dispatched = new(StringComparer.Ordinal);
    private readonly ILoadBalancer _balancer;

    /// <summary>Creates a dispatcher with the strategy named by <paramref name="strategy"/> (see <see cref="LoadBalancerFactory.Names"/>).</summary>
    /// <exception cref="TaskValidationException">Unknown strategy name.</exception>
    public WorkerDispatcher(string strategy, LoadBalancerOptions? options = null)
    {
        if (!LoadBalancerFactory.TryParse(strategy, out var parsed))
        {
            throw new TaskValidationException("balancer", $"unknown strategy '{strategy}'; valid: {string.Join(", ", LoadBalancerFactory.Names)}");
        }

        _balancer = LoadBalancerFactory.Create(parsed, options);
    }

    /// <summary>The strategy name.</summary>
    public string Strategy => _balancer.Name;

    /// <summary>Registered workers.</summary>
    public IReadOnlyCollection<WorkerSlot> Workers => _workers.Values;

    /// <summary>Total free slots over all workers.</summary>
    public int FreeSlots => _workers.Values.Sum(w => Math.Max(0, w.Capacity - InFlight(w.Id)));

    /// <summary>Tasks running on <paramref name="workerId"/> by this dispatcher's count.</summary>
    public int InFlight(string workerId) => _inFlight.GetValueOrDefault(workerId);

    /// <summary>Tasks ever dispatched to <paramref name="workerId"/>.</summary>
    public long Dispatched(string workerId) => _dispatched.GetValueOrDefault(workerId);

    /// <summary>Replaces the worker set; workers that stay keep their in-flight counts.</summary>
    public void SetWorkers(IReadOnlyList<WorkerSlot> workers)
    {
        ArgumentNullException.ThrowIfNull(workers);
        _workers.Clear();
        foreach (var w in workers)
        {
            _workers[w.Id] = w with { Weight = Math.Max(1, w.Weight), Capacity = Math.Max(1, w.Capacity) };
        }

        foreach (var gone in _inFlight.Keys.Where(id => !_workers.ContainsKey(id)).ToList())
        {
            _inFlight.Remove(gone);
        }

        _balancer.SetMembers([.. _workers.Values.Select(w => new BalancerMember(w.Id, w.Weight))]);
        foreach (var w in _workers.Values)
        {
            _balancer.SetHealth(w.Id, InFlight(w.Id) < w.Capacity);
        }
    }

    /// <summary>Removes one worker (it refused work or its silo died).</summary>
    public void Remove(string workerId) => SetWorkers([.. _workers.Values.Where(w => !string.Equals(w.Id, workerId, StringComparison.Ordinal))]);

    /// <summary>
    /// Picks a worker with a free slot for a task with affinity key <paramref name="key"/> and counts
    /// the dispatch as started; null when no worker has a free slot.
    /// </summary>
    public string? Pick(string? key)
    {
        var id = _balancer.Select(new BalancerContext(key));
        if (id is null)
        {
            return null;
        }

        _balancer.OnStart(id);
        var now = _inFlight[id] = InFlight(id) + 1;
        _dispatched[id] = Dispatched(id) + 1;
        if (now >= _workers[id].Capacity)
        {
            _balancer.SetHealth(id, false);
        }

        return id;
    }

    /// <summary>Records that a task dispatched to <paramref name="workerId"/> finished there.</summary>
    public void Release(string workerId, TimeSpan latency, bool success)
    {
        if (!_inFlight.TryGetValue(workerId, out var count) || count == 0)
        {
            return;
        }

        _inFlight[workerId] = count - 1;
        _balancer.OnComplete(workerId, latency, success);
        if (_workers.TryGetValue(workerId, out var w) && count - 1 < w.Capacity)
        {
            _balancer.SetHealth(workerId, true);
        }
    }
}
