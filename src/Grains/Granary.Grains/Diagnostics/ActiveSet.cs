using System.Collections.Concurrent;
using System.Diagnostics.Metrics;

namespace Granary.Diagnostics;

/// <summary>
/// The activations of one silo that a family's gauges read: each registers a reader of its current
/// figures (optionally with a tag value, e.g. its queue) and removes it when it deactivates.
/// </summary>
/// <typeparam name="T">What an activation's reader returns.</typeparam>
public sealed class ActiveSet<T>
{
    private readonly ConcurrentDictionary<object, (string? Tag, Func<T> Read)> _active = new();

    /// <summary>Counts <paramref name="activation"/> until <see cref="Remove"/>.</summary>
    public void Add(object activation, string? tag, Func<T> read) => _active[activation] = (tag, read);

    /// <summary>Stops counting <paramref name="activation"/>.</summary>
    public void Remove(object activation) => _active.TryRemove(activation, out _);

    /// <summary>The sum of <paramref name="pick"/> over every activation (0 when there is none).</summary>
    public int Sum(Func<T, int> pick) => _active.Values.Sum(a => pick(a.Read()));

    /// <summary>One measurement per tag value: <paramref name="pick"/> over the activations with that tag.</summary>
    public List<Measurement<int>> SumByTag(string tagName, Func<IEnumerable<T>, int> pick) =>
        _active.Values
            .GroupBy(a => a.Tag ?? string.Empty, StringComparer.Ordinal)
            .Select(g => new Measurement<int>(pick(g.Select(a => a.Read())), new KeyValuePair<string, object?>(tagName, g.Key)))
            .ToList();
}
