namespace Granary.Scheduling;

/// <summary>
/// Coalesces state writes of a reentrant grain: callers that change state while a write is in
/// flight share the next write, so N concurrent operations cost about two writes, not N. Each
/// caller's task completes once a write that started after its change is durable.
/// </summary>
internal sealed class GroupCommit(Func<Task> write)
{
    private TaskCompletionSource? _queued;
    private bool _writing;

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
                    batch.SetResult();
                }
                catch (Exception ex)
                {
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
