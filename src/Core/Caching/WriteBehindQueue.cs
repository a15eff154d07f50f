using Granary.Scheduling;

namespace Granary.Caching;

/// <summary>One row a write-behind cache owes its backing table: the value (null: delete) and its version.</summary>
/// <param name="Value">The value; null for a delete.</param>
/// <param name="Version">The backing version the write carries.</param>
public readonly record struct WriteBehindRow(string? Value, long Version);

/// <summary>
/// The rows a write-behind cache shard has acknowledged but not yet written to its backing table,
/// and when to write them. A row is written within the write-behind delay; after a flush in which
/// any row failed, the next flush waits longer each time (<see cref="BackoffPolicy"/>, no jitter:
/// the delay, then twice it, ... up to the cap) until a flush writes every row. The queue holds at
/// most <see cref="Capacity"/> rows (pending and in flight): a write of a new key beyond that is
/// refused, so a backing table that stays down costs bounded memory. Not thread-safe: one owner
/// (a shard activation) drives it.
/// </summary>
/// <example><code>
/// var queue = new WriteBehindQueue(TimeSpan.FromMilliseconds(500), TimeSpan.FromSeconds(30), 10_000, TimeProvider.System);
/// queue.TryAdd("sku:42", new WriteBehindRow("apples", 7));     // false when full
/// var rows = queue.Take();                                     // when DueAt has passed
/// queue.Complete(rows.Count, failed: []);                      // schedules the next flush
/// </code></example>
public sealed class WriteBehindQueue
{
    private readonly TimeProvider _time;
    private readonly BackoffPolicy _backoff;
    private readonly Dictionary<string, WriteBehindRow> _writing = new(StringComparer.Ordinal);
    private Dictionary<string, WriteBehindRow> _pending = new(StringComparer.Ordinal);
    private int _inFlight;

    /// <summary>Creates an empty queue.</summary>
    /// <param name="delay">How long a row waits before it is written (the write-behind delay).</param>
    /// <param name="maxRetryDelay">The longest wait after failed flushes (at least <paramref name="delay"/>).</param>
    /// <param name="capacity">Most rows held, pending and in flight.</param>
    /// <param name="time">The clock.</param>
    public WriteBehindQueue(TimeSpan delay, TimeSpan maxRetryDelay, int capacity, TimeProvider time)
    {
        ArgumentOutOfRangeException.ThrowIfLessThanOrEqual(delay, TimeSpan.Zero);
        ArgumentOutOfRangeException.ThrowIfLessThan(capacity, 1);
        ArgumentNullException.ThrowIfNull(time);
        _time = time;
        _backoff = new BackoffPolicy(delay, maxRetryDelay < delay ? delay : maxRetryDelay, jitter: false);
        Capacity = capacity;
    }

    /// <summary>Most rows held.</summary>
    public int Capacity { get; }

    /// <summary>Rows waiting for a flush.</summary>
    public int Pending => _pending.Count;

    /// <summary>Rows pending or being written.</summary>
    public int Count => _pending.Count + _inFlight;

    /// <summary>Flushes in a row that left at least one row unwritten (0 after a flush that wrote everything).</summary>
    public int ConsecutiveFailedFlushes { get; private set; }

    /// <summary>When the next flush should start; null when no row is pending.</summary>
    public DateTimeOffset? DueAt { get; private set; }

    /// <summary>Row writes that failed (each is retried).</summary>
    public long FailedWrites { get; private set; }

    /// <summary>Writes refused because the queue was full.</summary>
    public long Refused { get; private set; }

    /// <summary>Rows given up by <see cref="DropAll"/>.</summary>
    public long Dropped { get; private set; }

    /// <summary>The time left until <see cref="DueAt"/> (zero when due; infinite when nothing is pending).</summary>
    public TimeSpan TimeUntilDue
    {
        get
        {
            if (DueAt is not { } due)
            {
                return Timeout.InfiniteTimeSpan;
            }

            var left = due - _time.GetUtcNow();
            return left > TimeSpan.Zero ? left : TimeSpan.Zero;
        }
    }

    /// <summary>The pending row of <paramref name="key"/>, if any (rows being written are not pending).</summary>
    public bool TryGetPending(string key, out WriteBehindRow row) => _pending.TryGetValue(key, out row);

    /// <summary>The newest row of <paramref name="key"/> the table has not confirmed yet: pending, or else being written.</summary>
    public bool TryGetQueued(string key, out WriteBehindRow row) => _pending.TryGetValue(key, out row) || _writing.TryGetValue(key, out row);

    /// <summary>
    /// Queues <paramref name="row"/> for <paramref name="key"/>, replacing its pending row. False (and
    /// nothing changes) when the key has no pending row and the queue already holds <see cref="Capacity"/> rows.
    /// </summary>
    public bool TryAdd(string key, WriteBehindRow row)
    {
        ArgumentNullException.ThrowIfNull(key);
        if (!_pending.ContainsKey(key) && Count >= Capacity)
        {
            Refused++;
            return false;
        }

        _pending[key] = row;
        DueAt ??= _time.GetUtcNow() + NextDelay();
        return true;
    }

    /// <summary>Takes every pending row for writing; they count as in flight until <see cref="Complete"/>.</summary>
    public IReadOnlyList<KeyValuePair<string, WriteBehindRow>> Take()
    {
        var rows = _pending.ToList();
        _pending = new Dictionary<string, WriteBehindRow>(StringComparer.Ordinal);
        _inFlight += rows.Count;
        foreach (var (key, row) in rows)
        {
            _writing[key] = row;
        }

        DueAt = null;
        return rows;
    }

    /// <summary>
    /// Ends the flush of <paramref name="taken"/> rows: the <paramref name="failed"/> ones are pending again
    /// (unless a newer row of the key arrived meanwhile). After a failure the next flush waits for the
    /// backoff of this many failed flushes in a row; otherwise rows that arrived meanwhile keep their due time.
    /// </summary>
    public void Complete(int taken, IReadOnlyCollection<KeyValuePair<string, WriteBehindRow>> failed)
    {
        ArgumentNullException.ThrowIfNull(failed);
        _inFlight -= taken;
        if (_inFlight == 0)
        {
            _writing.Clear();
        }
        foreach (var (key, row) in failed)
        {
            FailedWrites++;
            if (!(_pending.TryGetValue(key, out var newer) && newer.Version > row.Version))
            {
                _pending[key] = row;
            }
        }

        if (_pending.Count == 0)
        {
            DueAt = null;
        }

        if (failed.Count > 0)
        {
            // The table is failing: every pending row, also those that arrived during the flush, waits for the backoff.
            ConsecutiveFailedFlushes++;
            DueAt = _time.GetUtcNow() + NextDelay();
        }
        else
        {
            // Rows that arrived during the flush keep the due time they got (within the delay).
            ConsecutiveFailedFlushes = 0;
        }
    }

    /// <summary>Gives up every pending row (a shard going away with a table that keeps failing); returns their keys.</summary>
    public IReadOnlyList<string> DropAll()
    {
        var keys = _pending.Keys.ToList();
        Dropped += keys.Count;
        _pending.Clear();
        DueAt = null;
        return keys;
    }

    private TimeSpan NextDelay() =>
        ConsecutiveFailedFlushes == 0 ? _backoff.BaseDelay : _backoff.DelayFor(ConsecutiveFailedFlushes, Random.Shared);
}
