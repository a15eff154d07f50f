using Granary.Client.Caching;
using Granary.Client.Locks;
using Granary.Client.Queues;
using Granary.Client.Scheduling;
using Granary.Client.Transactions;
using Microsoft.Extensions.Configuration;
using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.DependencyInjection.Extensions;
using Microsoft.Extensions.Hosting;
using Microsoft.Extensions.Options;

namespace Granary.Client.DependencyInjection;

/// <summary>Registers the Granary client and its typed clients in an application's services.</summary>
/// <example><code>
/// builder.Services.AddGranaryClient(builder.Configuration);
/// </code></example>
public static class GranaryClientServiceCollectionExtensions
{
    /// <summary>
    /// Sets up the Orleans client for the cluster named by <paramref name="configuration"/>
    /// (<c>Granary:Cluster</c>, <c>Granary:Client</c>, <c>Orleans</c>; connected when the host starts) and
    /// registers <see cref="DistributedLocks"/>, <see cref="CacheClients"/>, <see cref="QueueClient"/>,
    /// <see cref="TaskClient"/> and <see cref="TransactionClient"/> as singletons. Every one of them takes
    /// <see cref="GranaryClientOptions.CallTimeout"/> and <see cref="GranaryClientOptions.TimeProvider"/>
    /// of <see cref="GranaryClientOptions"/> (validated at start-up). Idempotent.
    /// </summary>
    /// <param name="services">The application's services.</param>
    /// <param name="configuration">The application's configuration.</param>
    /// <param name="configure">Changes to the options after they are bound from <c>Granary:Client</c>.</param>
    public static IServiceCollection AddGranaryClient(this IServiceCollection services, IConfiguration configuration, Action<GranaryClientOptions>? configure = null)
    {
        ArgumentNullException.ThrowIfNull(services);
        ArgumentNullException.ThrowIfNull(configuration);
        if (!services.AddOnce(nameof(AddGranaryClient)))
        {
            return services;
        }

        var options = services.AddOptions<GranaryClientOptions>().Bind(configuration.GetSection(GranaryClientOptions.SectionName)).ValidateOnStart();
        if (configure is not null)
        {
            options.Configure(configure);
        }

        services.AddSingleton<IValidateOptions<GranaryClientOptions>, GranaryClientOptionsValidator>();
        services.AddOrleansClient(client => client.UseGranaryClustering(configuration));
        services.TryAddSingleton(sp => new DistributedLocks(sp.GetRequiredService<IClusterClient>(), Options(sp).LockOptions()));
        services.TryAddSingleton(sp => new CacheClients(sp.GetRequiredService<IClusterClient>(), Options(sp).CacheOptions()));
        services.TryAddSingleton(sp => new QueueClient(sp.GetRequiredService<IClusterClient>(), Options(sp)));
        services.TryAddSingleton(sp => new TaskClient(sp.GetRequiredService<IClusterClient>(), Options(sp)));
        services.TryAddSingleton(sp => new TransactionClient(sp.GetRequiredService<IClusterClient>(), Options(sp)));
        return services;
    }

    private static GranaryClientOptions Options(IServiceProvider services) =>
        services.GetRequiredService<IOptions<GranaryClientOptions>>().Value;
}
