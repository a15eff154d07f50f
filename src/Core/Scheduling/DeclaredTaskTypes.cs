using System.Collections.Concurrent;

namespace Granary.Scheduling;

/// <summary>
/// The task types each queue's workers declared, as last read, kept for a short time so that a burst
/// of submissions costs one read per queue, not one per submission. Safe in the direction that
/// matters: a type missing from the kept list is read afresh before it is refused, so a submission
/// is never refused that a fresh read would accept (a worker that just declared its types is seen at
/// once). A type kept after its last worker left is accepted for at most <c>ttl</c> more; its tasks
/// then wait in the queue, as tasks accepted just before the worker left do.
/// </summary>
/// <example><code>
/// var types = new DeclaredTaskTypes(queue => grains.GetGrain&lt;IQueueGrain&gt;(queue).GetTaskTypesAsync(), TimeSpan.FromSeconds(5), time);
/// if (!await types.IsDeclaredAsync("emails", "send-email")) throw ...;
/// </code></example>
public sealed class DeclaredTaskTypes(Func<string, Task<IReadOnlyList<string>>> read, TimeSpan ttl, TimeProvider time)
{
    private readonly ConcurrentDictionary<string, (HashSet<string> Types, long ReadAt)> _byQueue = new(StringComparer.Ordinal);

    /// <summary>Reads made so far (for tests and metrics).</summary>
    public long Reads => Interlocked.Read(ref _reads);

    private long _reads;

    /// <summary>True when a worker of <paramref name="queue"/> declared <paramref name="type"/>, by the kept list or, failing that, a fresh read.</summary>
    public async Task<bool> IsDeclaredAsync(string queue, string type)
    {
        ArgumentNullException.ThrowIfNull(queue);
        ArgumentNullException.ThrowIfNull(type);
        if (_byQueue.TryGetValue(queue, out var kept) && time.GetElapsedTime(kept.ReadAt) < ttl && kept.Types.Contains(type))
        {
            return true;
        }

        return (await ReadAsync(queue)).Contains(type);
    }

    /// <summary>The list as last read (empty before the first read).</summary>
    public IReadOnlySet<string> Kept(string queue) => _byQueue.TryGetValue(queue, out var kept) ? kept.Types : new HashSet<string>();

    /// <summary>A fresh read of <paramref name="queue"/>'s declared types (kept for later calls).</summary>
    public async Task<IReadOnlySet<string>> ReadAsync(string queue)
    {
        var readAt = time.GetTimestamp();
        var types = new HashSet<string>(await read(queue), StringComparer.Ordinal);
        Interlocked.Increment(ref _reads);
        _byQueue[queue] = (types, readAt);
        return types;
    }
}
