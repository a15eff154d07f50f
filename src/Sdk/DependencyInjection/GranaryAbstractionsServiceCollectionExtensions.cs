using Microsoft.Extensions.DependencyInjection;

namespace Granary.Client.DependencyInjection;

/// <summary>The standard .NET abstractions over Granary: <c>IDistributedCache</c> and DistributedLock.Core's providers.</summary>
/// <example><code>
/// builder.Services.AddGranaryClient(builder.Configuration);
/// builder.Services.AddGranaryDistributedCache(o => o.CacheName = "catalogue");
/// builder.Services.AddGranaryDistributedLocks();
/// </code></example>
public static class GranaryAbstractionsServiceCollectionExtensions
{
    /// <summary>Registers <c>IDistributedCache</c> over one Granary cache (created on first use if missing).</summary>
    public static IServiceCollection AddGranaryDistributedCache(this IServiceCollection services, Action<GranaryDistributedCacheOptions>? configure = null) =>
        throw new NotImplementedException("skeleton: implemented by the abstractions work");

    /// <summary>Registers <c>IDistributedLockProvider</c>, <c>IDistributedSemaphoreProvider</c> and <c>IDistributedReaderWriterLockProvider</c> over Granary's locks.</summary>
    public static IServiceCollection AddGranaryDistributedLocks(this IServiceCollection services) =>
        throw new NotImplementedException("skeleton: implemented by the abstractions work");
}

/// <summary>Options of the <c>IDistributedCache</c> adapter.</summary>
public sealed class GranaryDistributedCacheOptions
{
    /// <summary>The Granary cache the adapter stores entries in.</summary>
    public string CacheName { get; set; } = "distributed-cache";
}
