using Granary.Client.Caching;
using Granary.Client.Locks;
using Granary.Errors;
using Medallion.Threading;
using Microsoft.Extensions.Caching.Distributed;
using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.DependencyInjection.Extensions;
using Microsoft.Extensions.Options;

namespace Granary.Client.DependencyInjection;

/// <summary>The standard .NET abstractions over Granary: <c>IDistributedCache</c> and DistributedLock.Core's providers.</summary>
/// <example><code>
/// builder.Services.AddGranaryClient(builder.Configuration);
/// builder.Services.AddGranaryDistributedCache(o => o.CacheName = "catalogue");
/// builder.Services.AddGranaryDistributedLocks();
/// </code></example>
public static class GranaryAbstractionsServiceCollectionExtensions
{
    /// <summary>
    /// Registers <see cref="IDistributedCache"/> as a <see cref="GranaryDistributedCache"/> over one
    /// Granary cache (created on first use if missing), replacing any earlier registration (such as
    /// Microsoft's Redis cache). The options are validated when the host starts. Needs an
    /// <see cref="IGrainFactory"/> (the Orleans client <c>AddGranaryClient</c> sets up).
    /// </summary>
    public static IServiceCollection AddGranaryDistributedCache(this IServiceCollection services, Action<GranaryDistributedCacheOptions>? configure = null)
    {
        ArgumentNullException.ThrowIfNull(services);
        var options = services.AddOptions<GranaryDistributedCacheOptions>();
        if (configure is not null)
        {
            options.Configure(configure);
        }

        options.Validate(o => o.Problem() is null, "invalid GranaryDistributedCacheOptions").ValidateOnStart();
        services.AddSingleton<IDistributedCache>(sp =>
        {
            var settings = sp.GetRequiredService<IOptions<GranaryDistributedCacheOptions>>().Value;
            if (settings.Problem() is { } problem)
            {
                throw new InvalidRequestException(nameof(GranaryDistributedCacheOptions), problem);
            }

            var client = new LazyCacheClient(sp.GetRequiredService<IGrainFactory>(), settings.CacheName);
            return new GranaryDistributedCache(client.GetAsync, sp.GetService<TimeProvider>(), settings.KeyPrefix);
        });
        return services;
    }

    /// <summary>
    /// Registers <see cref="GranaryDistributedLockProvider"/> as <see cref="IDistributedLockProvider"/>,
    /// <see cref="IDistributedSemaphoreProvider"/> and <see cref="IDistributedReaderWriterLockProvider"/>
    /// (replacing earlier registrations, such as a DistributedLock.Redis or .Postgres provider), over the
    /// registered <see cref="DistributedLocks"/> (one over the <see cref="IGrainFactory"/> when none is).
    /// </summary>
    public static IServiceCollection AddGranaryDistributedLocks(this IServiceCollection services, Action<GranaryDistributedLockProviderOptions>? configure = null)
    {
        ArgumentNullException.ThrowIfNull(services);
        var settings = new GranaryDistributedLockProviderOptions();
        configure?.Invoke(settings);
        settings.Validate();
        services.TryAddSingleton(sp => new DistributedLocks(sp.GetRequiredService<IGrainFactory>()));
        services.AddSingleton(sp => new GranaryDistributedLockProvider(sp.GetRequiredService<DistributedLocks>(), settings));
        services.AddSingleton<IDistributedLockProvider>(sp => sp.GetRequiredService<GranaryDistributedLockProvider>());
        services.AddSingleton<IDistributedSemaphoreProvider>(sp => sp.GetRequiredService<GranaryDistributedLockProvider>());
        services.AddSingleton<IDistributedReaderWriterLockProvider>(sp => sp.GetRequiredService<GranaryDistributedLockProvider>());
        return services;
    }

    /// <summary>Connects to the cache on first use; a failed connection is tried again by the next caller.</summary>
    private sealed class LazyCacheClient(IGrainFactory grains, string cacheName)
    {
        private readonly Lock _gate = new();
        private Task<CacheClient>? _connecting;

        public Task<CacheClient> GetAsync(CancellationToken cancellationToken)
        {
            Task<CacheClient> connecting;
            lock (_gate)
            {
                if (_connecting is null || _connecting.IsFaulted || _connecting.IsCanceled)
                {
                    _connecting = CacheClient.ConnectAsync(grains, cacheName);
                }

                connecting = _connecting;
            }

            return connecting.WaitAsync(cancellationToken);
        }
    }
}

/// <summary>Options of the <c>IDistributedCache</c> adapter (<see cref="GranaryDistributedCache"/>).</summary>
public sealed class GranaryDistributedCacheOptions
{
    /// <summary>The Granary cache the adapter stores entries in. Default <c>distributed-cache</c>.</summary>
    public string CacheName { get; set; } = "distributed-cache";

    /// <summary>
    /// Put before every key, so several applications can share one cache (Microsoft's Redis cache
    /// calls it <c>InstanceName</c>). Default none; at most 128 characters.
    /// </summary>
    public string KeyPrefix { get; set; } = "";

    /// <summary>What is wrong with these options, or null.</summary>
    internal string? Problem()
    {
        if (string.IsNullOrWhiteSpace(CacheName) || CacheName.Length > Limits.MaxKeyLength || CacheName.Contains('/', StringComparison.Ordinal) || Granary.Text.StorableText.Problem(CacheName) is not null)
        {
            return $"CacheName '{CacheName}' must be 1..{Limits.MaxKeyLength} characters of storable text without '/'";
        }

        return KeyPrefix is null || KeyPrefix.Length > 128 ? "KeyPrefix must be set and at most 128 characters" : null;
    }
}
