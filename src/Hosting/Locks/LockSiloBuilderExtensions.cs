using Granary.Client;
using Granary.Client.Configuration;
using Granary.Locks;
using Microsoft.Extensions.Configuration;
using Microsoft.Extensions.DependencyInjection;

namespace Granary.Server.Locks;

/// <summary>Registers the lock family on a silo.</summary>
public static class LockSiloBuilderExtensions
{
    /// <summary>Binds and validates <c>Granary:Locks</c> (<see cref="LockOptions"/>) for the lock grains.</summary>
    /// <example><code>silo.AddGranaryLocks(configuration);</code></example>
    public static ISiloBuilder AddGranaryLocks(this ISiloBuilder silo, IConfiguration configuration)
    {
        ArgumentNullException.ThrowIfNull(silo);
        ArgumentNullException.ThrowIfNull(configuration);
        if (!silo.Services.AddOnce(nameof(AddGranaryLocks)))
        {
            return silo;
        }

        silo.Services.AddSingleton<LockMetrics>();
        ValidatedOptions.Bind<LockOptions, LockOptionsValidator>(silo.Services, configuration, LockOptions.SectionName);
        return silo;
    }
}
