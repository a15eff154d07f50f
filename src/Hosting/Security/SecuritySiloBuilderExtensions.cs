using Granary.Client;
using Granary.Client.Configuration;
using Granary.Server.Options;
using Microsoft.Extensions.Configuration;
using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.DependencyInjection.Extensions;
using Microsoft.Extensions.Logging;
using Microsoft.Extensions.Options;
using Orleans.Configuration;

namespace Granary.Server.Security;

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
        silo.AddClusterProof(configuration);
        silo.AddGranaryTls(configuration);
        silo.AddGranaryIdentities(configuration);

        // Identities and permissions replace this when configured (see IClientCallAuthorizer).
        silo.Services.TryAddSingleton<IClientCallAuthorizer, AllowAllClientCalls>();
        return silo;
    }

    /// <summary>
    /// The wall between client calls and internal calls: the cluster secret (validated at start-up),
    /// the proof every call from this silo to a grain carries, and the filter that refuses internal
    /// methods to calls without it (see docs/security.md).
    /// </summary>
    private static void AddClusterProof(this ISiloBuilder silo, IConfiguration configuration)
    {
        // An unparsable mode is reported by the cluster options' validator; here it counts as Redis (strict).
        var mode = Enum.TryParse<ClusteringMode>(configuration[$"{GranaryClusterOptions.SectionName}:{nameof(GranaryClusterOptions.Mode)}"] ?? nameof(ClusteringMode.Localhost), ignoreCase: true, out var parsed)
            ? parsed
            : ClusteringMode.Redis;
        silo.Services.AddOptions<ClusterSecretOptions>().Bind(configuration.GetSection(ClusterSecretOptions.SectionName)).ValidateOnStart();
        silo.Services.AddSingleton<IValidateOptions<ClusterSecretOptions>>(new ClusterSecretOptionsValidator(mode));
        silo.Services.AddSingleton(sp =>
        {
            var cluster = sp.GetRequiredService<IOptions<ClusterOptions>>().Value;
            return new ClusterProof(sp.GetRequiredService<IOptions<ClusterSecretOptions>>().Value, mode, cluster.ServiceId, cluster.ClusterId, sp.GetRequiredService<ILogger<ClusterProof>>());
        });
        silo.AddOutgoingGrainCallFilter<ClusterProofStamp>();
        silo.AddIncomingGrainCallFilter<InternalCallWall>();
    }
}
