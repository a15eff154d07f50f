namespace Granary.Scheduling;

/// <summary>
/// Coalesces state writes of a reentrant grain: callers that change state while a write is in
/// flight share the next write, so N concurrent operations cost about two writes, not N. Each
/// caller's task completes once a write that started after its change is durable. A failed write
/// fails its callers only: the state stays changed in memory, and the next write stores it whole.
/// </summary>
internal sealed class GroupCommit(Func<Task> write)
{
    private TaskCompletionSource? _queued;
    private bool _writing;
    private bool _failed;

    /// <summary>Durably writes the current state (or joins the next write).</summary>
    public Task SaveAsync()
    {
        if (_queued is { } pending)
        {
            return pending.Task;
        }

        var next = new TaskCompletionSource(TaskCreationOptions.RunContinuationsAsynchronously);
        _queued = next;
        if (!_writing)
        {
            _ = WriteLoopAsync();
        }

        return next.Task;
    }

    /// <summary>
    /// Completes when the state as it is now is stored: at once when the last write succeeded and
    /// none is in flight, otherwise with the next write. For answers that rest on an earlier change
    /// (an idempotent repeat), which must not be given while that change's write is in flight or
    /// after it failed.
    /// </summary>
    public Task StoredAsync() => _writing || _failed ? SaveAsync() : Task.CompletedTask;

    private async Task WriteLoopAsync()
    {
        _writing = true;
        try
        {
            while (_queued is { } batch)
            {
                _queued = null;
                try
                {
                    await write();
                    _failed = false;
                    batch.SetResult();
                }
                catch (Exception ex)
                {
                    _failed = true;
                    batch.SetException(ex);
                }
            }
        }
        finally
        {
            _writing = false;
        }
    }
}
