using Granary.Client.Caching;
using Granary.Client.Configuration;
using Granary.Client.Locks;
using Granary.Errors;
using Microsoft.Extensions.Options;

namespace Granary.Client.DependencyInjection;

/// <summary>
/// Options of the typed clients (<c>Granary:Client</c>): the bound on one call to the cluster and the
/// clock, applied alike to every typed client (locks, caches, queues, tasks, transactions) and to the
/// health checks. The lock and cache clients keep their own further settings (<see cref="Locks"/>,
/// <see cref="Cache"/>); their call timeout and clock are these.
/// </summary>
public sealed class GranaryClientOptions
{
    /// <summary>Configuration section.</summary>
    public const string SectionName = "Granary:Client";

    /// <summary>
    /// How long one call to the cluster may take before it fails with <see cref="TimeoutException"/>
    /// (a lock attempt is re-sent after it, see <see cref="DistributedLockOptions.CallTimeout"/>). A call
    /// that asks the cluster to wait (a queue's long poll, a task's result wait, a lock's queue) may take
    /// that wait plus this. A call that timed out may still take effect. Default 10 s; between 10 ms and
    /// 30 s (Orleans' own response timeout).
    /// </summary>
    public TimeSpan CallTimeout { get; set; } = TimeSpan.FromSeconds(10);

    /// <summary>The clock the clients use (lease renewals, waits, backoff, near-cache expiry). Default <see cref="TimeProvider.System"/>.</summary>
    public TimeProvider TimeProvider { get; set; } = TimeProvider.System;

    /// <summary>Settings of <see cref="DistributedLocks"/> (<c>Granary:Client:Locks</c>) other than the call timeout and clock.</summary>
    public DistributedLockOptions Locks { get; set; } = new();

    /// <summary>Settings of every <see cref="CacheClient"/> (<c>Granary:Client:Cache</c>) other than the call timeout and clock.</summary>
    public CacheClientOptions Cache { get; set; } = new();

    /// <summary>The lock client's options with this call timeout and clock.</summary>
    internal DistributedLockOptions LockOptions() => Locks with { CallTimeout = CallTimeout, TimeProvider = TimeProvider };

    /// <summary>The cache client's options with this call timeout and clock.</summary>
    internal CacheClientOptions CacheOptions() => Cache with { CallTimeout = CallTimeout, TimeProvider = TimeProvider };

    /// <summary>The bound the queue, task and transaction clients (and the health checks) put on each call.</summary>
    internal CallBound Bound()
    {
        ArgumentNullException.ThrowIfNull(TimeProvider);
        Guard.InRange(CallTimeout, nameof(CallTimeout), TimeSpan.FromMilliseconds(10), DistributedLockOptions.DeclaredCallTimeout);
        return new(CallTimeout, TimeProvider);
    }
}

/// <summary>Fails start-up with a clear message when <c>Granary:Client</c>'s shared options are unusable.</summary>
public sealed class GranaryClientOptionsValidator : IValidateOptions<GranaryClientOptions>
{
    /// <inheritdoc/>
    public ValidateOptionsResult Validate(string? name, GranaryClientOptions options)
    {
        ArgumentNullException.ThrowIfNull(options);
        var errors = new List<string>();
        if (options.CallTimeout < TimeSpan.FromMilliseconds(10) || options.CallTimeout > DistributedLockOptions.DeclaredCallTimeout)
        {
            errors.Add($"{GranaryClientOptions.SectionName}:CallTimeout must be between 00:00:00.010 and {DistributedLockOptions.DeclaredCallTimeout} (got {options.CallTimeout}).");
        }

        if (options.TimeProvider is null || options.Locks is null || options.Cache is null)
        {
            errors.Add($"{GranaryClientOptions.SectionName}: TimeProvider, Locks and Cache must not be null.");
        }

        return errors.Count == 0 ? ValidateOptionsResult.Success : ValidateOptionsResult.Fail(errors);
    }
}
