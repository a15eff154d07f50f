using Granary.Server;
using Granary.Server.Security;
using Microsoft.Extensions.Configuration;
using Microsoft.Extensions.DependencyInjection;
using Orleans.TestingHost;

namespace Granary.Tests.SiloHost;

/// <summary>
/// Wires a standalone TestCluster silo exactly as the production silo process does
/// (<see cref="GranarySiloBuilderExtensions.AddGranary"/>): Redis clustering, endpoints, membership
/// profile, storage and grain services from the <c>Granary</c> settings the test passes, with the
/// silo and gateway ports TestCluster allocated for this silo.
/// </summary>
public sealed class GranaryStandaloneSiloConfigurator : ISiloConfigurator
{
    /// <inheritdoc/>
    public void Configure(ISiloBuilder siloBuilder)
    {
        ArgumentNullException.ThrowIfNull(siloBuilder);
        var testCluster = siloBuilder.Configuration;
        var configuration = new ConfigurationBuilder()
            .AddConfiguration(testCluster)
            .AddInMemoryCollection(new Dictionary<string, string?>
            {
                ["Granary:Cluster:Mode"] = "Redis",
                ["Granary:Cluster:SiloPort"] = testCluster["Orleans:Endpoints:SiloPort"],
                ["Granary:Cluster:GatewayPort"] = testCluster["Orleans:Endpoints:GatewayPort"],
            })
            .Build();
        siloBuilder.AddGranary(configuration);

        // TestCluster's client asks the silos' test hooks (a system target only TestCluster installs) while it deploys.
        siloBuilder.Services.Configure<ClientOpenOrleansCalls>(o => o.Methods["Orleans.Runtime.TestHooks.ITestHooks"] = null);
    }
}
