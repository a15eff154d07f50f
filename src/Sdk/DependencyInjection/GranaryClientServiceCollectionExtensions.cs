using Microsoft.Extensions.Configuration;
using Microsoft.Extensions.DependencyInjection;

namespace Granary.Client.DependencyInjection;

/// <summary>Registers the Granary client and its typed clients in an application's services.</summary>
/// <example><code>
/// builder.Services.AddGranaryClient(builder.Configuration);
/// </code></example>
public static class GranaryClientServiceCollectionExtensions
{
    /// <summary>
    /// Sets up the Orleans client for the cluster named by <paramref name="configuration"/>
    /// (<c>Granary:Cluster</c>, <c>Granary:Client</c>) and registers <c>DistributedLocks</c>,
    /// <c>CacheClients</c>, <c>QueueClient</c>, <c>TaskClient</c> and <c>TransactionClient</c>.
    /// </summary>
    public static IServiceCollection AddGranaryClient(this IServiceCollection services, IConfiguration configuration, Action<GranaryClientOptions>? configure = null) =>
        throw new NotImplementedException("skeleton: implemented by the client package work");
}

/// <summary>Options shared by every typed client (<c>Granary:Client</c>).</summary>
public sealed class GranaryClientOptions
{
    /// <summary>Configuration section.</summary>
    public const string SectionName = "Granary:Client";

    /// <summary>How long one call to the cluster may take before it fails with a timeout.</summary>
    public TimeSpan CallTimeout { get; set; } = TimeSpan.FromSeconds(30);

    /// <summary>The clock the clients use (lease renewals, waits, backoff).</summary>
    public TimeProvider TimeProvider { get; set; } = TimeProvider.System;
}
