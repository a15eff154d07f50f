namespace Granary.Scheduling.Handlers;

/// <summary>What one run produced.</summary>
/// <param name="Outcome">How it ended.</param>
/// <param name="Payload">The result JSON, or the error message.</param>
public sealed record RunResult(RunOutcome Outcome, string? Payload);

/// <summary>
/// Runs a handler under a hard time limit: the handler's token is cancelled at the limit, and a
/// handler that ignores its token is abandoned at the limit all the same (the run is reported as
/// timed out; the stray work's outcome is ignored).
/// </summary>
public static class HandlerRunner
{
    /// <summary>Runs <paramref name="handler"/>; <paramref name="cancellationToken"/> is the task's cancellation.</summary>
    public static async Task<RunResult> RunAsync(ITaskHandler handler, TaskRunContext run, TimeSpan timeLimit, CancellationToken cancellationToken)
    {
        ArgumentNullException.ThrowIfNull(handler);
        ArgumentNullException.ThrowIfNull(run);
        using var limit = new CancellationTokenSource(timeLimit, run.Time);
        using var linked = CancellationTokenSource.CreateLinkedTokenSource(limit.Token, cancellationToken);
        Task<string> work;
        try
        {
            work = handler.ExecuteAsync(run, linked.Token);
        }
        catch (Exception ex) when (ex is not OutOfMemoryException)
        {
            work = Task.FromException<string>(ex);
        }

        var deadline = Task.Delay(Timeout.InfiniteTimeSpan, linked.Token);
        var first = await Task.WhenAny(work, deadline);
        if (first != work)
        {
            // Observe the abandoned work's exception, if it ever fails.
            _ = work.ContinueWith(static t => t.Exception, TaskScheduler.Default);
            cancellationToken.ThrowIfCancellationRequested();
            return new RunResult(RunOutcome.TimedOut, $"exceeded the time limit of {timeLimit.TotalMilliseconds:F0} ms");
        }

        try
        {
            return new RunResult(RunOutcome.Succeeded, await work);
        }
        catch (OperationCanceledException) when (limit.IsCancellationRequested && !cancellationToken.IsCancellationRequested)
        {
            return new RunResult(RunOutcome.TimedOut, $"exceeded the time limit of {timeLimit.TotalMilliseconds:F0} ms");
        }
        catch (OperationCanceledException) when (cancellationToken.IsCancellationRequested)
        {
            throw;
        }
        catch (PermanentTaskException ex)
        {
            return new RunResult(RunOutcome.FailedPermanently, ex.Message);
        }
        catch (TaskValidationException ex)
        {
            return new RunResult(RunOutcome.FailedPermanently, ex.Message);
        }
        catch (Exception ex) when (ex is not OutOfMemoryException)
        {
            return new RunResult(RunOutcome.Failed, ex.Message);
        }
    }
}
