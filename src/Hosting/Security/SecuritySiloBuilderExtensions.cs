using Microsoft.Extensions.Configuration;
using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.DependencyInjection.Extensions;

namespace Granary.Hosting.Security;

/// <summary>
/// Registers the security layer of a silo (section <c>Granary:Security</c>): transport security,
/// the wall between client calls and internal calls, identities and permissions, audit.
/// </summary>
public static class SecuritySiloBuilderExtensions
{
    /// <summary>Adds the security layer to <paramref name="silo"/>.</summary>
    public static ISiloBuilder AddGranarySecurity(this ISiloBuilder silo, IConfiguration configuration)
    {
        ArgumentNullException.ThrowIfNull(silo);
        ArgumentNullException.ThrowIfNull(configuration);
        if (!silo.Services.AddOnce(nameof(AddGranarySecurity)))
        {
            return silo;
        }

        silo.Services.AddSingleton<SecurityMetrics>();
        silo.AddGranaryTls(configuration);
        silo.AddGranaryIdentities(configuration);

        // Identities and permissions replace this when configured (see IClientCallAuthorizer).
        silo.Services.TryAddSingleton<IClientCallAuthorizer, AllowAllClientCalls>();
        return silo;
    }
}
