using Granary.Client;
using Granary.Client.Configuration;
using Microsoft.Extensions.Configuration;
using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.DependencyInjection.Extensions;

namespace Granary.Server.Security;

/// <summary>Registers identities and permissions on a silo.</summary>
public static class IdentitySiloBuilderExtensions
{
    /// <summary>
    /// Binds and validates <c>Granary:Security:Identities</c> and <c>Authorization</c>
    /// (<see cref="IdentityOptions"/>) and makes <see cref="IdentityAuthorizer"/> the silo's
    /// <see cref="IClientCallAuthorizer"/> (with no identity it allows every call but still takes
    /// credentials out of the request context; <see cref="ClusterProofStamp"/> keeps them off every call
    /// the silo makes). Idempotent.
    /// </summary>
    /// <example><code>silo.AddGranaryIdentities(configuration);</code></example>
    public static ISiloBuilder AddGranaryIdentities(this ISiloBuilder silo, IConfiguration configuration)
    {
        ArgumentNullException.ThrowIfNull(silo);
        ArgumentNullException.ThrowIfNull(configuration);
        if (!silo.Services.AddOnce(nameof(AddGranaryIdentities)))
        {
            return silo;
        }

        ValidatedOptions.Bind<IdentityOptions, IdentityOptionsValidator>(silo.Services, configuration, IdentityOptions.SectionName);
        silo.Services.TryAddSingleton(TimeProvider.System);
        silo.Services.AddSingleton<IClientCallAuthorizer, IdentityAuthorizer>();
        silo.Services.AddSingleton<ILifecycleParticipant<ISiloLifecycle>, IdentityStartup>();
        return silo;
    }

    /// <summary>Builds the authorizer when the silo starts, so that whether authorization is on is logged then (and a token file is read then).</summary>
    private sealed class IdentityStartup(IClientCallAuthorizer authorizer) : ILifecycleParticipant<ISiloLifecycle>
    {
        public void Participate(ISiloLifecycle observer) => GC.KeepAlive(authorizer);
    }
}
