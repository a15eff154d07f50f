using Granary.Errors;
using Granary.Locks;
using Polly;
using Polly.Retry;

namespace Granary.Client.Locks;

/// <summary>
/// How the SDK calls a lock grain, in one place: every attempt is bounded by its caller (see
/// <see cref="DistributedLockOptions.CallTimeout"/>), and an attempt that failed or did not answer in
/// time is sent again — the same request, so the lock treats it idempotently — after a jittered
/// exponential backoff (50 ms doubling to 500 ms), until the caller's deadline.
/// </summary>
/// <remarks>
/// Why attempts need a bound of their own: Orleans leaves a request that was already written to a
/// gateway's connection waiting for its response until the response timeout (30 s, declared on
/// <see cref="ILockGrain"/>) when that gateway dies or is dropped; only requests not yet sent are
/// routed to another gateway. A bounded attempt that is sent again goes through a live gateway.
/// </remarks>
internal sealed class LockCallPolicy
{
    private static readonly ResiliencePropertyKey<long> RetryUntil = new("granary.locks.retry-until");
    private readonly ResiliencePipeline _pipeline;

    public LockCallPolicy(TimeProvider time)
    {
        _pipeline = new ResiliencePipelineBuilder { TimeProvider = time }
            .AddRetry(new RetryStrategyOptions
            {
                ShouldHandle = args => ValueTask.FromResult(
                    args.Outcome.Exception is { } ex && IsRetryable(ex)
                    && time.GetTimestamp() < args.Context.Properties.GetValue(RetryUntil, long.MinValue)),
                MaxRetryAttempts = int.MaxValue,
                BackoffType = DelayBackoffType.Exponential,
                UseJitter = true,
                Delay = TimeSpan.FromMilliseconds(50),
                MaxDelay = TimeSpan.FromMilliseconds(500),
            })
            .Build();
    }

    /// <summary>
    /// Runs <paramref name="attempt"/> (which bounds itself and honours the token it is given) until
    /// it succeeds, fails with an error that is not worth retrying, or fails after
    /// <paramref name="retryUntil"/> (a timestamp of the policy's clock). At least one attempt runs.
    /// </summary>
    public async Task<T> RunAsync<TState, T>(Func<TState, CancellationToken, Task<T>> attempt, TState state, long retryUntil, CancellationToken cancellationToken)
    {
        var context = ResilienceContextPool.Shared.Get(cancellationToken);
        context.Properties.Set(RetryUntil, retryUntil);
        try
        {
            return await _pipeline.ExecuteAsync(
                static (context, call) => new ValueTask<T>(call.attempt(call.state, context.CancellationToken)),
                context,
                (attempt, state));
        }
        finally
        {
            ResilienceContextPool.Shared.Return(context);
        }
    }

    /// <inheritdoc cref="RunAsync{TState, T}(Func{TState, CancellationToken, Task{T}}, TState, long, CancellationToken)"/>
    public Task RunAsync<TState>(Func<TState, CancellationToken, Task> attempt, TState state, long retryUntil, CancellationToken cancellationToken) =>
        RunAsync(
            static async (call, token) =>
            {
                await call.attempt(call.state, token);
                return true;
            },
            (attempt, state),
            retryUntil,
            cancellationToken);

    /// <summary>
    /// Worth sending again: no answer in time, a lost silo or gateway, a rejected message, an error
    /// that could not be read, or one the lock calls retryable. Not: the lock's definite answers
    /// (bad argument, lease not held or expired, kind mismatch, queue full), cancellation, memory.
    /// Every lock request may be repeated: acquires carry a request id, renewals and releases a token.
    /// </summary>
    public static bool IsRetryable(Exception ex) => ex switch
    {
        LockUnavailableException => true,
        GranaryException granary => granary.Code == ErrorCodes.Internal || ErrorCodes.IsRetryable(granary.Code),
        OperationCanceledException or OutOfMemoryException => false,
        _ => true,
    };
}
