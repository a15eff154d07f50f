using Granary.Client;
using Granary.Client.Diagnostics;
using Granary.Locks;
using Granary.Server;
using Granary.Tests.Cluster.Infrastructure;
using Microsoft.Extensions.Configuration;
using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.Hosting;
using Orleans.Metadata;

namespace Granary.Tests.Cluster.Foundation;

/// <summary>
/// The cached grain interface types give every grain interface the type Orleans' own resolver gives it,
/// in silos and clients, and step aside where an application has providers of its own.
/// </summary>
public sealed class CachedGrainInterfaceTypesTests
{
    [Fact]
    public void A_silo_and_a_client_resolve_every_grain_interface_as_plain_Orleans_does()
    {
        var configuration = new ConfigurationBuilder().AddInMemoryCollection(new Dictionary<string, string?>
        {
            ["Orleans:ClusterId"] = "interface-types",
            ["Orleans:ServiceId"] = "granary-test",
            ["Granary:Cluster:Mode"] = "Localhost",
            ["Granary:Storage:Mode"] = "Memory",
        }).Build();

        using var plain = Build(b => b.UseOrleans(silo => silo.UseLocalhostClustering()));
        using var silo = Build(b => b.UseOrleans(silo => silo.AddGranary(configuration)));
        using var client = Build(b => b.UseOrleansClient(client => client.UseGranaryClustering(configuration)));

        var expected = plain.Services.GetRequiredService<GrainInterfaceTypeResolver>();
        var interfaces = typeof(ILockGrain).Assembly.GetTypes()
            .Where(t => t.IsInterface && typeof(IAddressable).IsAssignableFrom(t) && !t.ContainsGenericParameters)
            .ToList();
        Assert.True(interfaces.Count > 20, $"found only {interfaces.Count} grain interfaces");

        foreach (var host in new[] { silo, client })
        {
            Assert.IsType<CachedGrainInterfaceTypes>(Assert.Single(host.Services.GetServices<IGrainInterfaceTypeProvider>()));
            var resolver = host.Services.GetRequiredService<GrainInterfaceTypeResolver>();
            foreach (var type in interfaces)
            {
                // Twice: the first answer is computed, the second comes from the cache.
                Assert.Equal(expected.GetGrainInterfaceType(type), resolver.GetGrainInterfaceType(type));
                Assert.Equal(expected.GetGrainInterfaceType(type), resolver.GetGrainInterfaceType(type));
            }
        }
    }

    [Fact]
    public void An_interface_with_an_explicit_type_keeps_it()
    {
        using var host = Build(b => b.UseOrleansClient(client =>
        {
            client.UseLocalhostClustering();
            Assert.True(CachedGrainInterfaceTypes.Register(client.Services));
        }));

        var resolver = host.Services.GetRequiredService<GrainInterfaceTypeResolver>();

        Assert.Equal("granary.test.named", resolver.GetGrainInterfaceType(typeof(INamedInterface)).ToString());
        Assert.Equal("granary.test.named", resolver.GetGrainInterfaceType(typeof(INamedInterface)).ToString());
    }

    [Fact]
    public void Nothing_is_replaced_where_an_application_registered_its_own_provider()
    {
        using var host = Build(b => b.UseOrleansClient(client =>
        {
            client.UseLocalhostClustering();
            client.Services.AddSingleton<IGrainInterfaceTypeProvider, OwnProvider>();
            Assert.False(CachedGrainInterfaceTypes.Register(client.Services));
        }));

        var providers = host.Services.GetServices<IGrainInterfaceTypeProvider>().ToList();
        Assert.Equal(2, providers.Count);
        Assert.IsType<AttributeGrainInterfaceTypeProvider>(providers[0]);
        Assert.IsType<OwnProvider>(providers[1]);
    }

    private static IHost Build(Action<HostApplicationBuilder> configure)
    {
        var builder = Host.CreateApplicationBuilder(new HostApplicationBuilderSettings { DisableDefaults = true });
        builder.Configuration["Granary:Cluster:SiloPort"] = FreePort.Next().ToString(System.Globalization.CultureInfo.InvariantCulture);
        configure(builder);
        return builder.Build();
    }

    [GrainInterfaceType("granary.test.named")]
    public interface INamedInterface : IGrainWithStringKey
    {
        Task<int> ValueAsync();
    }

    private sealed class OwnProvider : IGrainInterfaceTypeProvider
    {
        public bool TryGetGrainInterfaceType(Type type, out GrainInterfaceType grainInterfaceType)
        {
            grainInterfaceType = default;
            return false;
        }
    }
}
