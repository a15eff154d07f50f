namespace Granary.Client.Configuration;

/// <summary>
/// The one bound every typed client puts on a call to the cluster: the caller stops waiting after
/// <see cref="Timeout"/> (on <see cref="Time"/>'s clock) with a <see cref="TimeoutException"/>, or as soon
/// as its token is cancelled with an <see cref="OperationCanceledException"/>. Orleans leaves a request
/// already written to a gateway's connection waiting until its response timeout (30 s) when that
/// gateway dies; this bound is shorter. Stopping the wait does not undo the call: a call that timed
/// out or was cancelled may still take effect (each client says how to retry safely).
/// </summary>
/// <param name="Timeout">How long a call may take beyond any wait it asked the grain for.</param>
/// <param name="Time">The clock of the bound.</param>
internal readonly record struct CallBound(TimeSpan Timeout, TimeProvider Time)
{
    /// <summary>Waits for <paramref name="call"/> within the bound.</summary>
    public Task<T> On<T>(Task<T> call, CancellationToken cancellationToken) => call.WaitAsync(Timeout, Time, cancellationToken);

    /// <inheritdoc cref="On{T}(Task{T}, CancellationToken)"/>
    public Task On(Task call, CancellationToken cancellationToken) => call.WaitAsync(Timeout, Time, cancellationToken);

    /// <summary>Waits for <paramref name="call"/>, which asked the grain to wait up to <paramref name="wait"/>, within the bound beyond that wait.</summary>
    public Task<T> OnWait<T>(Task<T> call, TimeSpan wait, CancellationToken cancellationToken) =>
        call.WaitAsync(wait + Timeout, Time, cancellationToken);

    /// <summary>Waits for <paramref name="call"/> within <paramref name="timeout"/> instead of the bound's own (a call whose bound is shorter, e.g. a renewal due soon).</summary>
    public Task<T> Within<T>(Task<T> call, TimeSpan timeout, CancellationToken cancellationToken) => call.WaitAsync(timeout, Time, cancellationToken);

    /// <inheritdoc cref="Within{T}(Task{T}, TimeSpan, CancellationToken)"/>
    public Task Within(Task call, TimeSpan timeout, CancellationToken cancellationToken) => call.WaitAsync(timeout, Time, cancellationToken);
}
