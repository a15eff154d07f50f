using System.Diagnostics;
using System.Globalization;
using Granary.Client.Collections;
using Granary.Client.Configuration;
using Granary.Errors;
using Granary.Identity;
using Granary.Locks;

namespace Granary.Client.Locks;

/// <summary>
/// Distributed locks over Granary's lock grains for any .NET application with an
/// <see cref="IGrainFactory"/> (an <c>IClusterClient</c> or a grain). Waits of any length are
/// handled here: the server answers each call within its per-call bound and this class re-issues
/// it with the same request id, keeping the caller's place in the FIFO queue. Each call is bounded
/// (<see cref="DistributedLockOptions.CallTimeout"/>); failed or unanswered calls (a silo or gateway
/// lost) are retried with the same request id, which the server treats idempotently, through a live
/// gateway.
/// </summary>
/// <example><code>
/// var locks = new DistributedLocks(client);
/// await using var lease = await locks.AcquireAsync("orders/42", TimeSpan.FromSeconds(30), TimeSpan.FromSeconds(10), ct);
/// await store.WriteAsync(data, fencingToken: lease.Token, lease.LeaseLost);
/// </code></example>
public sealed class DistributedLocks
{
    // Grain references by lock name: creating one resolves the interface type by reflection,
    // which cost more than the rest of an acquire on the client. Bounded (lock names may churn).
    private const int MaxCachedReferences = 4_096;
    private readonly BoundedLookup<string, ILockGrain> _references = new(MaxCachedReferences, StringComparer.Ordinal);
    private readonly IGrainFactory _grains;

    /// <summary>Creates the client.</summary>
    public DistributedLocks(IGrainFactory grains, DistributedLockOptions? options = null)
    {
        ArgumentNullException.ThrowIfNull(grains);
        _grains = grains;
        Options = options ?? new DistributedLockOptions();
        Owner = Options.Owner ?? string.Create(CultureInfo.InvariantCulture, $"{Environment.MachineName}/{Environment.ProcessId}/{Guid.NewGuid():N}");
        Guard.Name(Owner, "owner");
        ArgumentNullException.ThrowIfNull(Options.TimeProvider);
        Guard.InRange(Options.CallTimeout, nameof(Options.CallTimeout), TimeSpan.FromMilliseconds(10), DistributedLockOptions.DeclaredCallTimeout);
        Guard.InRange(Options.TransientRetryWindow, nameof(Options.TransientRetryWindow), TimeSpan.Zero, TimeSpan.FromHours(1));
        Guard.InRange(Options.ReleaseWait, nameof(Options.ReleaseWait), TimeSpan.Zero, TimeSpan.FromMinutes(5));
        Renewals = new LeaseRenewals(Options.TimeProvider);
        Calls = new LockCallPolicy(Options.TimeProvider);
    }

    /// <summary>The timer that renews this client's held leases.</summary>
    internal LeaseRenewals Renewals { get; }

    /// <summary>Bounded attempts and retries of this client's lock calls.</summary>
    internal LockCallPolicy Calls { get; }

    /// <summary>The owner name this client acquires as.</summary>
    public string Owner { get; }

    /// <summary>The settings.</summary>
    public DistributedLockOptions Options { get; }

    /// <summary>Acquires the mutex <paramref name="name"/>, waiting up to <paramref name="wait"/>; <see cref="LockTimeoutException"/> if it is not granted in time.</summary>
    public async Task<LockHandle> AcquireAsync(string name, TimeSpan ttl, TimeSpan wait, CancellationToken cancellationToken = default) =>
        await TryAcquireAsync(name, ttl, wait, cancellationToken) ?? throw Timeout(name, wait);

    /// <summary>Acquires the mutex <paramref name="name"/>, or null when the wait runs out.</summary>
    public Task<LockHandle?> TryAcquireAsync(string name, TimeSpan ttl, TimeSpan wait, CancellationToken cancellationToken = default) =>
        AcquireCoreAsync(name, ttl, wait, LockType.Mutex, LockAccess.Exclusive, 1, cancellationToken);

    /// <summary>Acquires one of <paramref name="permits"/> permits of the semaphore <paramref name="name"/>.</summary>
    public async Task<LockHandle> AcquireSemaphoreAsync(string name, int permits, TimeSpan ttl, TimeSpan wait, CancellationToken cancellationToken = default) =>
        await AcquireCoreAsync(name, ttl, wait, LockType.Semaphore, LockAccess.Exclusive, permits, cancellationToken) ?? throw Timeout(name, wait);

    /// <summary>Acquires the reader-writer lock <paramref name="name"/> as a reader.</summary>
    public async Task<LockHandle> AcquireReadAsync(string name, TimeSpan ttl, TimeSpan wait, CancellationToken cancellationToken = default) =>
        await AcquireCoreAsync(name, ttl, wait, LockType.ReaderWriter, LockAccess.Shared, 1, cancellationToken) ?? throw Timeout(name, wait);

    /// <summary>Acquires the reader-writer lock <paramref name="name"/> as the writer (queued writers are not starved by later readers).</summary>
    public async Task<LockHandle> AcquireWriteAsync(string name, TimeSpan ttl, TimeSpan wait, CancellationToken cancellationToken = default) =>
        await AcquireCoreAsync(name, ttl, wait, LockType.ReaderWriter, LockAccess.Exclusive, 1, cancellationToken) ?? throw Timeout(name, wait);

    /// <summary>One of <paramref name="permits"/> permits of the semaphore <paramref name="name"/>, or null when the wait runs out.</summary>
    public Task<LockHandle?> TryAcquireSemaphoreAsync(string name, int permits, TimeSpan ttl, TimeSpan wait, CancellationToken cancellationToken = default) =>
        AcquireCoreAsync(name, ttl, wait, LockType.Semaphore, LockAccess.Exclusive, permits, cancellationToken);

    /// <summary>The reader-writer lock <paramref name="name"/> as a reader, or null when the wait runs out.</summary>
    public Task<LockHandle?> TryAcquireReadAsync(string name, TimeSpan ttl, TimeSpan wait, CancellationToken cancellationToken = default) =>
        AcquireCoreAsync(name, ttl, wait, LockType.ReaderWriter, LockAccess.Shared, 1, cancellationToken);

    /// <summary>The reader-writer lock <paramref name="name"/> as the writer, or null when the wait runs out.</summary>
    public Task<LockHandle?> TryAcquireWriteAsync(string name, TimeSpan ttl, TimeSpan wait, CancellationToken cancellationToken = default) =>
        AcquireCoreAsync(name, ttl, wait, LockType.ReaderWriter, LockAccess.Exclusive, 1, cancellationToken);

    /// <summary>
    /// All-or-nothing: acquires every mutex in <paramref name="names"/> in ordinal order (so two
    /// callers asking for overlapping sets cannot deadlock), or none of them.
    /// </summary>
    public async Task<MultiLockHandle> AcquireAllAsync(IEnumerable<string> names, TimeSpan ttl, TimeSpan wait, CancellationToken cancellationToken = default)
    {
        ArgumentNullException.ThrowIfNull(names);
        var ordered = names.Distinct(StringComparer.Ordinal).Order(StringComparer.Ordinal).ToList();
        if (ordered.Count == 0 || ordered.Count > Limits.MaxBatchSize)
        {
            throw new InvalidRequestException(nameof(names), $"must name between 1 and {Limits.MaxBatchSize} locks");
        }

        var clock = Stopwatch.StartNew();
        var held = new List<LockHandle>();
        try
        {
            foreach (var name in ordered)
            {
                var remaining = wait - clock.Elapsed;
                held.Add(await AcquireAsync(name, ttl, remaining < TimeSpan.Zero ? TimeSpan.Zero : remaining, cancellationToken));
            }

            return new MultiLockHandle(held);
        }
        catch
        {
            foreach (var handle in held)
            {
                await handle.DisposeAsync();
            }

            throw;
        }
    }

    /// <summary>The lock's holders and queue; <see cref="TimeoutException"/> when the lock does not answer within <see cref="DistributedLockOptions.CallTimeout"/>.</summary>
    public Task<LockStatus> StatusAsync(string name, CancellationToken cancellationToken = default) => Bound.On(Grain(name).GetStatusAsync(), cancellationToken);

    private async Task<LockHandle?> AcquireCoreAsync(string name, TimeSpan ttl, TimeSpan wait, LockType type, LockAccess access, int permits, CancellationToken cancellationToken)
    {
        var grain = Grain(name);
        if (wait < TimeSpan.Zero)
        {
            throw new InvalidRequestException(nameof(wait), $"is {wait}; it must not be negative");
        }

        var time = Options.TimeProvider;
        var call = new AcquireCall(this, grain, new AcquireRequest(Owner, UniqueIds.Next(), ttl, wait, type, access, permits, Options.CallTimeout), time.GetTimestamp(), wait);
        var retryUntil = call.Started + Ticks(wait + Options.TransientRetryWindow, time);
        while (true)
        {
            AcquireResult result;
            try
            {
                result = await Calls.RunAsync(static (call, token) => call.AttemptAsync(token), call, retryUntil, cancellationToken);
            }
            catch (OperationCanceledException) when (cancellationToken.IsCancellationRequested)
            {
                // Leave the queue (or give back what was granted meanwhile), without waiting for it.
                _ = AbandonQuietlyAsync(grain, call.RequestId, ttl);
                throw;
            }
            catch (LeaseExpiredException)
            {
                // An attempt whose answer never reached us (its gateway died) was granted, and that
                // lease has ended since: nobody holds it for us. Ask again as a new request.
                call.Renew();
                continue;
            }
            catch (Exception ex) when (LockCallPolicy.IsRetryable(ex))
            {
                // Retries ran out. An unanswered attempt may have been granted: give it back.
                _ = AbandonQuietlyAsync(grain, call.RequestId, ttl);
                throw new LockUnavailableException(name, string.Create(CultureInfo.InvariantCulture, $"no answer within {time.GetElapsedTime(call.Started).TotalSeconds:0.#} s ({call.Attempts} attempts; last: {ex.GetType().Name}: {ex.Message}); retry"));
            }

            if (result.Lease is { } lease)
            {
                var handle = new LockHandle(grain, lease, call.SentAt, result.Remaining, this);
                bool started;
                try
                {
                    started = await handle.StartAsync();
                }
                catch (LockUnavailableException)
                {
                    _ = AbandonQuietlyAsync(grain, call.RequestId, ttl);
                    throw;
                }

                if (started)
                {
                    return handle;
                }

                // The lease ended before it could be confirmed: nobody holds it for us. Keep waiting
                // as a new request.
                call.Renew();
                continue;
            }

            if (!result.StillWaiting)
            {
                return null;
            }
        }
    }

    /// <summary>A call bounded by <paramref name="timeout"/> on this client's clock (and by the caller's token).</summary>
    internal Task<T> Bounded<T>(Task<T> call, TimeSpan timeout, CancellationToken cancellationToken) =>
        Bound.Within(call, timeout, cancellationToken);

    /// <inheritdoc cref="Bounded{T}(Task{T}, TimeSpan, CancellationToken)"/>
    internal Task Bounded(Task call, TimeSpan timeout, CancellationToken cancellationToken) =>
        Bound.Within(call, timeout, cancellationToken);

    /// <summary>The bound on this client's calls (<see cref="DistributedLockOptions.CallTimeout"/> on its clock).</summary>
    internal CallBound Bound => new(Options.CallTimeout, Options.TimeProvider);

    /// <summary><paramref name="span"/> in ticks of <paramref name="time"/>'s timestamps.</summary>
    internal static long Ticks(TimeSpan span, TimeProvider time) => (long)(span.TotalSeconds * time.TimestampFrequency);

    /// <summary>
    /// Tells the lock that <paramref name="requestId"/> was given up (leave the queue, or release what
    /// it was granted), retried until a lease granted now would have expired anyway.
    /// </summary>
    private async Task AbandonQuietlyAsync(ILockGrain grain, string requestId, TimeSpan ttl)
    {
        try
        {
            await Calls.RunAsync(
                static (call, token) => call.Locks.Bounded(call.Grain.AbandonAsync(call.Locks.Owner, call.RequestId), call.Locks.Options.CallTimeout, token),
                (Locks: this, Grain: grain, RequestId: requestId),
                Options.TimeProvider.GetTimestamp() + Ticks(ttl, Options.TimeProvider),
                CancellationToken.None);
        }
        catch (Exception ex) when (ex is not OutOfMemoryException)
        {
            // Best effort: an abandoned waiter also drops out when its wait runs out, a lease at its expiry.
        }
    }

    private ILockGrain Grain(string name) =>
        _references.GetOrAdd(name, n => _grains.GetGrain<ILockGrain>(Guard.Name(n, "name")));

    /// <summary>
    /// One acquire and its attempts. The request id stays the same across attempts and re-issues, so
    /// the lock treats them as one request (one place in the queue, at most one lease); it changes
    /// only when that request's lease has ended.
    /// </summary>
    private sealed class AcquireCall(DistributedLocks locks, ILockGrain grain, AcquireRequest request, long started, TimeSpan wait)
    {
        private AcquireRequest _request = request;

        /// <summary>When the acquire started (a timestamp of the client's clock).</summary>
        public long Started { get; } = started;

        /// <summary>When the latest attempt was sent: a lease it was granted cannot have started earlier.</summary>
        public long SentAt { get; private set; }

        /// <summary>Attempts sent so far.</summary>
        public int Attempts { get; private set; }

        /// <summary>The current request id.</summary>
        public string RequestId => _request.RequestId;

        /// <summary>Continues as a new request (the old one's lease has ended).</summary>
        public void Renew() => _request = _request with { RequestId = UniqueIds.Next() };

        /// <summary>
        /// Sends the request with the wait that remains. The lock answers a waiting call within
        /// <see cref="DistributedLockOptions.CallTimeout"/>, so the attempt is bounded by that wait
        /// plus another <see cref="DistributedLockOptions.CallTimeout"/> for everything else.
        /// </summary>
        public Task<AcquireResult> AttemptAsync(CancellationToken cancellationToken)
        {
            cancellationToken.ThrowIfCancellationRequested();
            var time = locks.Options.TimeProvider;
            var remaining = wait - time.GetElapsedTime(Started);
            remaining = remaining < TimeSpan.Zero ? TimeSpan.Zero : remaining;
            var callWait = remaining < locks.Options.CallTimeout ? remaining : locks.Options.CallTimeout;
            Attempts++;
            SentAt = time.GetTimestamp();
            return locks.Bounded(grain.AcquireAsync(_request with { Wait = remaining }), callWait + locks.Options.CallTimeout, cancellationToken);
        }
    }

    private static LockTimeoutException Timeout(string name, TimeSpan wait) =>
        new(name, string.Create(CultureInfo.InvariantCulture, $"not granted within {wait.TotalSeconds:0.###} s"));
}
