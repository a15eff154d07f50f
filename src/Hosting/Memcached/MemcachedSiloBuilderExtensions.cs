using Granary.Client;
using Granary.Client.Configuration;
using Microsoft.Extensions.Configuration;
using Microsoft.Extensions.DependencyInjection;

namespace Granary.Server.Memcached;

/// <summary>Registers the silo's Memcached endpoint.</summary>
public static class MemcachedSiloBuilderExtensions
{
    /// <summary>
    /// Binds and validates <see cref="MemcachedOptions"/> from <c>Granary:Memcached</c> and, when
    /// <see cref="MemcachedOptions.Port"/> is set, hosts the endpoint: it listens once the silo is active
    /// and closes before the silo leaves.
    /// </summary>
    public static ISiloBuilder AddGranaryMemcached(this ISiloBuilder silo, IConfiguration configuration)
    {
        ArgumentNullException.ThrowIfNull(silo);
        ArgumentNullException.ThrowIfNull(configuration);
        if (!silo.Services.AddOnce(nameof(AddGranaryMemcached)))
        {
            return silo;
        }

        var options = ValidatedOptions.Bind<MemcachedOptions, MemcachedOptionsValidator>(silo.Services, configuration, MemcachedOptions.SectionName);
        if (options.Port is null)
        {
            return silo;
        }

        silo.Services.AddSingleton<MemcachedEndpoint>();
        silo.Services.AddSingleton<ILifecycleParticipant<ISiloLifecycle>>(sp => sp.GetRequiredService<MemcachedEndpoint>());
        return silo;
    }
}
