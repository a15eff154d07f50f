using System.Diagnostics;
using System.Globalization;
using Granary.Errors;
using Granary.Identity;
using Granary.Locks;

namespace Granary.Sdk.Locks;

/// <summary>
/// Distributed locks over Granary's lock grains for any .NET application with an
/// <see cref="IGrainFactory"/> (an <c>IClusterClient</c> or a grain). Waits of any length are
/// handled here: the server answers each call within its per-call bound and this class re-issues
/// it with the same request id, keeping the caller's place in the FIFO queue. Transient failures
/// (silo loss) are retried with the same request id, which the server treats idempotently.
/// </summary>
/// <example><code>
/// var locks = new DistributedLocks(client);
/// await using var lease = await locks.AcquireAsync("orders/42", TimeSpan.FromSeconds(30), TimeSpan.FromSeconds(10), ct);
/// await store.WriteAsync(data, fencingToken: lease.Token, lease.LeaseLost);
/// </code></example>
public sealed class DistributedLocks
{
    // Grain references by lock name: creating one resolves the interface type by reflection,
    // which cost more than the rest of an acquire on the client. Bounded; cleared when full.
    private const int MaxCachedReferences = 4_096;
    private readonly System.Collections.Concurrent.ConcurrentDictionary<string, ILockGrain> _references = new(StringComparer.Ordinal);
    private readonly IGrainFactory _grains;

    /// <summary>Creates the client.</summary>
    public DistributedLocks(IGrainFactory grains, DistributedLockOptions? options = null)
    {
        ArgumentNullException.ThrowIfNull(grains);
        _grains = grains;
        Options = options ?? new DistributedLockOptions();
        Owner = Options.Owner ?? string.Create(CultureInfo.InvariantCulture, $"{Environment.MachineName}/{Environment.ProcessId}/{Guid.NewGuid():N}");
        Guard.Name(Owner, "owner");
        Renewals = new LeaseRenewals(Options.TimeProvider);
    }

    /// <summary>The timer that renews this client's held leases.</summary>
    internal LeaseRenewals Renewals { get; }

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

    /// <summary>The lock's holders and queue.</summary>
    public Task<LockStatus> StatusAsync(string name) => Grain(name).GetStatusAsync();

    private async Task<LockHandle?> AcquireCoreAsync(string name, TimeSpan ttl, TimeSpan wait, LockType type, LockAccess access, int permits, CancellationToken cancellationToken)
    {
        var grain = Grain(name);
        if (wait < TimeSpan.Zero)
        {
            throw new InvalidRequestException(nameof(wait), $"is {wait}; it must not be negative");
        }

        var requestId = UniqueIds.Next();
        var time = Options.TimeProvider;
        var started = time.GetTimestamp();
        var attempt = 0;
        while (true)
        {
            cancellationToken.ThrowIfCancellationRequested();
            var elapsed = time.GetElapsedTime(started);
            var remaining = wait - elapsed;
            var sentAt = time.GetTimestamp();
            AcquireResult result;
            try
            {
                result = await Bounded(grain.AcquireAsync(new AcquireRequest(Owner, requestId, ttl, remaining < TimeSpan.Zero ? TimeSpan.Zero : remaining, type, access, permits)), cancellationToken);
            }
            catch (OperationCanceledException) when (cancellationToken.IsCancellationRequested)
            {
                // Leave the queue (or give back what was granted meanwhile), without waiting for it.
                _ = AbandonQuietlyAsync(grain, requestId);
                throw;
            }
            catch (Exception ex) when (IsTransient(ex) && time.GetElapsedTime(started) < wait + Options.TransientRetryWindow)
            {
                attempt++;
                await Task.Delay(TimeSpan.FromMilliseconds(Math.Min(1000, 50 * attempt)), time, cancellationToken);
                continue;
            }

            if (result.Lease is { } lease)
            {
                return new LockHandle(grain, lease, sentAt, this);
            }

            if (!result.StillWaiting)
            {
                return null;
            }
        }
    }

    /// <summary>
    /// A call bounded by <see cref="DistributedLockOptions.CallTimeout"/> and cancellable by
    /// <paramref name="cancellationToken"/>. At the default bound the interface's declared response
    /// timeout already applies, so no timer is made per call.
    /// </summary>
    internal Task<T> Bounded<T>(Task<T> call, CancellationToken cancellationToken) =>
        NeedsOwnTimeout ? call.WaitAsync(Options.CallTimeout, Options.TimeProvider, cancellationToken)
        : cancellationToken.CanBeCanceled ? call.WaitAsync(cancellationToken)
        : call;

    /// <inheritdoc cref="Bounded{T}(Task{T}, CancellationToken)"/>
    internal Task Bounded(Task call, CancellationToken cancellationToken) =>
        NeedsOwnTimeout ? call.WaitAsync(Options.CallTimeout, Options.TimeProvider, cancellationToken)
        : cancellationToken.CanBeCanceled ? call.WaitAsync(cancellationToken)
        : call;

    // A bound shorter than the interface's declared one, or a clock other than the system's (tests),
    // needs a timer of this client's own.
    private bool NeedsOwnTimeout =>
        Options.CallTimeout < DistributedLockOptions.DeclaredCallTimeout || Options.TimeProvider != TimeProvider.System;

    internal static bool IsTransient(Exception ex) =>
        ex is LockUnavailableException or TimeoutException or Orleans.Runtime.SiloUnavailableException or Orleans.Runtime.OrleansMessageRejectionException
        || (ex is Orleans.Runtime.OrleansException && ex is not GranaryException);

    private async Task AbandonQuietlyAsync(ILockGrain grain, string requestId)
    {
        try
        {
            await grain.AbandonAsync(Owner, requestId).WaitAsync(TimeSpan.FromSeconds(5));
        }
        catch (Exception ex) when (ex is not OutOfMemoryException)
        {
            // Best effort: an abandoned waiter also drops out when its wait runs out.
        }
    }

    private ILockGrain Grain(string name)
    {
        if (_references.TryGetValue(name, out var cached))
        {
            return cached;
        }

        var grain = _grains.GetGrain<ILockGrain>(Guard.Name(name, "name"));
        if (_references.Count >= MaxCachedReferences)
        {
            _references.Clear();
        }

        _references.TryAdd(name, grain);
        return grain;
    }

    private static LockTimeoutException Timeout(string name, TimeSpan wait) =>
        new(name, string.Create(CultureInfo.InvariantCulture, $"not granted within {wait.TotalSeconds:0.###} s"));
}
