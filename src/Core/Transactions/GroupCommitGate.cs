namespace Granary.Transactions;

/// <summary>
/// Group commit for one owner of state that is written whole (a participant grain): callers change
/// the state in memory, then wait on <see cref="ChangedAsync"/>; one write loop writes the state
/// as it is at that moment for every caller waiting, so concurrent callers share a write, and each
/// caller is answered only after a write that started after its change is durable. A failed write
/// fails every caller waiting and every later one (<see cref="Failure"/>): memory is then ahead of
/// storage and the owner must reload before it answers again.
/// </summary>
/// <remarks>
/// Not thread-safe: meant for a single-threaded owner (an Orleans activation). The write delegate
/// must take its snapshot of the state before its first await; changes made while a write is in
/// flight go into the next one.
/// </remarks>
/// <param name="write">Writes the current state (snapshot taken synchronously, then awaited until durable).</param>
public sealed class GroupCommitGate(Func<Task> write)
{
    private readonly Func<Task> _write = write ?? throw new ArgumentNullException(nameof(write));
    private List<(long Change, TaskCompletionSource Done)> _waiters = [];
    private long _changes;
    private long _durable;
    private bool _writing;

    /// <summary>Writes started so far.</summary>
    public long Writes { get; private set; }

    /// <summary>Changes recorded so far.</summary>
    public long Changes => _changes;

    /// <summary>True while a write is in flight.</summary>
    public bool Writing => _writing;

    /// <summary>The write failure that broke the gate, or null.</summary>
    public Exception? Failure { get; private set; }

    /// <summary>Records a change made in memory; completes when a write holding it is durable, fails if that write failed.</summary>
    public Task ChangedAsync()
    {
        if (Failure is { } failure)
        {
            return Task.FromException(failure);
        }

        _changes++;
        return DurableAsync();
    }

    /// <summary>Completes when every change recorded so far is durable (at once when nothing is pending).</summary>
    public Task DurableAsync()
    {
        if (Failure is { } failure)
        {
            return Task.FromException(failure);
        }

        if (_durable >= _changes)
        {
            return Task.CompletedTask;
        }

        var done = new TaskCompletionSource(TaskCreationOptions.RunContinuationsAsynchronously);
        _waiters.Add((_changes, done));
        if (!_writing)
        {
            _writing = true;
            _ = WriteLoopAsync();
        }

        return done.Task;
    }

    private async Task WriteLoopAsync()
    {
        try
        {
            while (_waiters.Count > 0)
            {
                var upTo = _changes;
                Writes++;
                try
                {
                    await _write();
                }
                catch (Exception ex)
                {
                    Failure = ex;
                    var failed = _waiters;
                    _waiters = [];
                    foreach (var (_, done) in failed)
                    {
                        done.TrySetException(ex);
                    }

                    return;
                }

                _durable = upTo;
                var waiting = _waiters;
                _waiters = [];
                foreach (var waiter in waiting)
                {
                    if (waiter.Change <= upTo)
                    {
                        waiter.Done.TrySetResult();
                    }
                    else
                    {
                        _waiters.Add(waiter);
                    }
                }
            }
        }
        finally
        {
            _writing = false;
        }
    }
}
