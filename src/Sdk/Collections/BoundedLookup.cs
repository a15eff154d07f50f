using System.Collections.Concurrent;
using System.Diagnostics.CodeAnalysis;

namespace Granary.Client.Collections;

/// <summary>
/// A concurrent map of what a long-lived process keeps per name it has used (grain references, a
/// queue's definition and batchers, verified assertions), with a bound on its entries. Names churn
/// without end in some uses (a lock per order, a queue per tenant): when the map reaches the bound it
/// is emptied and refills with the names still in use. Values must be re-creatable, so that dropping
/// one costs only its re-creation (a batcher dropped with items in flight still completes them).
/// </summary>
/// <typeparam name="TKey">The name.</typeparam>
/// <typeparam name="TValue">What is kept for it.</typeparam>
internal sealed class BoundedLookup<TKey, TValue>
    where TKey : notnull
{
    private readonly ConcurrentDictionary<TKey, TValue> _entries;

    /// <summary>Creates an empty map that holds at most <paramref name="capacity"/> entries.</summary>
    public BoundedLookup(int capacity, IEqualityComparer<TKey>? comparer = null)
    {
        ArgumentOutOfRangeException.ThrowIfLessThan(capacity, 1);
        Capacity = capacity;
        _entries = new ConcurrentDictionary<TKey, TValue>(comparer);
    }

    /// <summary>The most entries held at once.</summary>
    public int Capacity { get; }

    /// <summary>Entries held now.</summary>
    public int Count => _entries.Count;

    /// <summary>The value kept for <paramref name="key"/>, if any.</summary>
    public bool TryGetValue(TKey key, [MaybeNullWhen(false)] out TValue value) => _entries.TryGetValue(key, out value);

    /// <summary>The value kept for <paramref name="key"/>, or a new one from <paramref name="create"/>.</summary>
    public TValue GetOrAdd(TKey key, Func<TKey, TValue> create)
    {
        if (_entries.TryGetValue(key, out var value))
        {
            return value;
        }

        MakeRoom();
        return _entries.GetOrAdd(key, create);
    }

    /// <summary>Keeps <paramref name="value"/> for <paramref name="key"/>, replacing what was kept.</summary>
    public void Set(TKey key, TValue value)
    {
        if (!_entries.ContainsKey(key))
        {
            MakeRoom();
        }

        _entries[key] = value;
    }

    /// <summary>Forgets <paramref name="key"/>.</summary>
    public bool Remove(TKey key) => _entries.TryRemove(key, out _);

    private void MakeRoom()
    {
        if (_entries.Count >= Capacity)
        {
            _entries.Clear();
        }
    }
}
