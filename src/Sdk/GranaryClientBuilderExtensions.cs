using System.Net;
using Granary.Client.Configuration;
using Granary.Client.Diagnostics;
using Granary.Client.Security;
using Microsoft.Extensions.Configuration;
using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.Hosting;
using Orleans.Configuration;
using Orleans.Hosting;

namespace Granary.Client;

/// <summary>Connects an Orleans client to the cluster named by configuration.</summary>
/// <example><code>
/// builder.UseOrleansClient(client => client.UseGranaryClustering(builder.Configuration));
/// </code></example>
public static class GranaryClientBuilderExtensions
{
    /// <summary>
    /// Redis gateway discovery or the localhost gateways, from <c>Granary:Cluster</c> and <c>Orleans</c>;
    /// TLS from <c>Granary:Security:Tls</c>, the credential from <c>Granary:Client</c>, the message size limit. Idempotent.
    /// </summary>
    public static IClientBuilder UseGranaryClustering(this IClientBuilder client, IConfiguration configuration)
    {
        ArgumentNullException.ThrowIfNull(client);
        ArgumentNullException.ThrowIfNull(configuration);
        if (!client.Services.AddOnce(nameof(UseGranaryClustering)))
        {
            return client;
        }

        var options = ValidatedOptions.Bind<GranaryClusterOptions, GranaryClusterOptionsValidator>(
            client.Services, configuration, GranaryClusterOptions.SectionName);
        client.Services.Configure<ClusterOptions>(configuration.GetSection("Orleans"));
        if (options.Mode == ClusteringMode.Redis)
        {
            // The Redis credentials of Granary:Security:Servers fill a connection string that carries none,
            // as the silos' configuration gets them, so an application's own configuration works alike.
            var redis = RedisSecrets.RedisWithCredentials(options.RedisConnectionString, configuration);
            client.UseRedisClustering(r => r.ConfigurationOptions = RedisConfiguration.Parse(redis, RedisSecrets.RedisCaCertificate(configuration)));
        }
        else
        {
            var ports = options.ClientGatewayPorts.Length > 0 ? options.ClientGatewayPorts : [options.GatewayPort];
            client.UseStaticClustering(ports.Select(p => new IPEndPoint(IPAddress.Loopback, p)).ToArray());
        }

        client.UseGranaryTls(configuration);
        return client.AddGranaryClientLimits().AddGranaryClientCredentials(configuration);
    }

    /// <summary>
    /// The client's side of the limits: Orleans' message size set to <see cref="Limits.MaxMessageBytes"/>,
    /// as on the silos; and grain interface types resolved once (<see cref="CachedGrainInterfaceTypes"/>),
    /// as on the silos. Idempotent.
    /// </summary>
    public static IClientBuilder AddGranaryClientLimits(this IClientBuilder client)
    {
        ArgumentNullException.ThrowIfNull(client);
        if (!client.Services.AddOnce(nameof(AddGranaryClientLimits)))
        {
            return client;
        }

        client.Services.Configure<ClientMessagingOptions>(MessageSizeLimit.Apply);
        CachedGrainInterfaceTypes.Register(client.Services);
        return client;
    }
}
