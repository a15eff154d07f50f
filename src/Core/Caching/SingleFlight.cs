using System.Collections.Concurrent;

namespace Granary.Caching;

/// <summary>
/// Collapses concurrent loads of the same key into one: while a load for a key is running, later
/// callers for that key await the same result instead of starting another load (a cache miss
/// storm becomes a single backing-store read). Once the load finishes, the next call loads again.
/// </summary>
/// <example><code>
/// var flight = new SingleFlight&lt;string, string?&gt;();
/// var value = await flight.RunAsync("sku:42", key => catalogue.LoadAsync(key));
/// </code></example>
public sealed class SingleFlight<TKey, TValue>
    where TKey : notnull
{
    private readonly ConcurrentDictionary<TKey, Task<TValue>> _running;

    /// <summary>Creates an instance using <paramref name="comparer"/> for keys.</summary>
    public SingleFlight(IEqualityComparer<TKey>? comparer = null)
    {
        _running = new ConcurrentDictionary<TKey, Task<TValue>>(comparer ?? EqualityComparer<TKey>.Default);
    }

    /// <summary>Loads currently running.</summary>
    public int Running => _running.Count;

    /// <summary>Runs <paramref name="load"/> for <paramref name="key"/> unless a load for it is already running, whose result is shared.</summary>
    public Task<TValue> RunAsync(TKey key, Func<TKey, Task<TValue>> load)
    {
        ArgumentNullException.ThrowIfNull(load);
        var completion = new TaskCompletionSource<TValue>(TaskCreationOptions.RunContinuationsAsynchronously);
        var shared = _running.GetOrAdd(key, completion.Task);
        if (!ReferenceEquals(shared, completion.Task))
        {
            return shared;
        }

        _ = LoadAsync(key, load, completion);
        return completion.Task;
    }

    private async Task LoadAsync(TKey key, Func<TKey, Task<TValue>> load, TaskCompletionSource<TValue> completion)
    {
        try
        {
            var value = await load(key);
            _running.TryRemove(new KeyValuePair<TKey, Task<TValue>>(key, completion.Task));
            completion.SetResult(value);
        }
        catch (Exception ex)
        {
            _running.TryRemove(new KeyValuePair<TKey, Task<TValue>>(key, completion.Task));
            completion.SetException(ex);
        }
    }
}
