using Granary.Client;
using Granary.Client.Configuration;
using Microsoft.Extensions.Configuration;
using Microsoft.Extensions.DependencyInjection;

namespace Granary.Server.Resp;

/// <summary>Registers the silo's RESP endpoint.</summary>
public static class RespSiloBuilderExtensions
{
    /// <summary>
    /// Binds and validates <see cref="RespOptions"/> from <c>Granary:Resp</c> and, when <see cref="RespOptions.Port"/>
    /// is set, hosts the endpoint: it listens once the silo is active and closes before the silo leaves.
    /// </summary>
    public static ISiloBuilder AddGranaryResp(this ISiloBuilder silo, IConfiguration configuration)
    {
        ArgumentNullException.ThrowIfNull(silo);
        ArgumentNullException.ThrowIfNull(configuration);
        if (!silo.Services.AddOnce(nameof(AddGranaryResp)))
        {
            return silo;
        }

        var options = ValidatedOptions.Bind<RespOptions, RespOptionsValidator>(silo.Services, configuration, RespOptions.SectionName);
        if (options.Port is null)
        {
            return silo;
        }

        silo.Services.AddSingleton<RespCluster>();
        silo.Services.AddSingleton<RespEndpoint>();
        silo.Services.AddSingleton<ILifecycleParticipant<ISiloLifecycle>>(sp => sp.GetRequiredService<RespEndpoint>());
        return silo;
    }
}
