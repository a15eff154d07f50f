using System.Globalization;
using Granary.Client;
using Granary.Server;
using Granary.Server.Caching;
using Granary.Server.Locks;
using Granary.Server.Queues;
using Granary.Server.Scheduling;
using Granary.Server.Telemetry;
using Granary.Server.Transactions;
using Granary.Tests.Cluster.Infrastructure;
using Microsoft.Extensions.Configuration;
using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.Hosting;

namespace Granary.Tests.Cluster.Foundation;

/// <summary>Every <c>AddGranary*</c> / <c>UseGranary*</c> method may be called again: the second call registers nothing.</summary>
public sealed class RegistrationTests
{
    private static readonly TimeSpan StartTimeout = TimeSpan.FromSeconds(60);

    [Fact]
    public async Task Every_silo_registration_called_twice_registers_each_service_once_and_the_silo_starts()
    {
        var settings = SiloSettings();
        var once = SiloHost(settings, times: 1);
        var twice = SiloHost(settings, times: 2);

        Assert.Equal(Describe(once.Services), Describe(twice.Services));

        using var host = twice.Build();
        using var timeout = new CancellationTokenSource(StartTimeout);
        await host.StartAsync(timeout.Token);
        await host.StopAsync(timeout.Token);
    }

    [Fact]
    public void Every_client_registration_called_twice_registers_each_service_once()
    {
        var settings = SiloSettings();

        Assert.Equal(Describe(ClientHost(settings, times: 1).Services), Describe(ClientHost(settings, times: 2).Services));
    }

    private static Dictionary<string, string?> SiloSettings()
    {
        var siloPort = FreePort.Next();
        return new Dictionary<string, string?>
        {
            ["Orleans:ClusterId"] = "registration-" + Guid.NewGuid().ToString("N")[..8],
            ["Orleans:ServiceId"] = "granary-test",
            ["Granary:Cluster:Mode"] = "Localhost",
            ["Granary:Cluster:SiloPort"] = siloPort.ToString(CultureInfo.InvariantCulture),
            ["Granary:Cluster:PrimarySiloPort"] = siloPort.ToString(CultureInfo.InvariantCulture),
            ["Granary:Cluster:GatewayPort"] = FreePort.Next().ToString(CultureInfo.InvariantCulture),
            ["Granary:Storage:Mode"] = "Memory",
        };
    }

    private static HostApplicationBuilder SiloHost(Dictionary<string, string?> settings, int times)
    {
        var builder = Host.CreateApplicationBuilder(new HostApplicationBuilderSettings { DisableDefaults = true });
        builder.Configuration.AddInMemoryCollection(settings);
        IConfiguration configuration = builder.Configuration;
        builder.UseOrleans(silo =>
        {
            for (var i = 0; i < times; i++)
            {
                silo.AddGranary(configuration);
                silo.UseGranaryClustering(configuration);
                silo.AddGranaryStorage(configuration);
                silo.AddGranaryServices(configuration);
                silo.AddGranaryActivationCollection(configuration);
                silo.AddGranaryTelemetry(configuration);
                silo.AddGranaryLocks(configuration);
                silo.AddGranaryCaching(configuration);
                silo.AddGranaryQueues(configuration);
                silo.AddGranaryTransactions(configuration);
                silo.AddGranaryScheduling(configuration);
            }
        });
        return builder;
    }

    private static HostApplicationBuilder ClientHost(Dictionary<string, string?> settings, int times)
    {
        var builder = Host.CreateApplicationBuilder(new HostApplicationBuilderSettings { DisableDefaults = true });
        builder.Configuration.AddInMemoryCollection(settings);
        IConfiguration configuration = builder.Configuration;
        builder.UseOrleansClient(client =>
        {
            for (var i = 0; i < times; i++)
            {
                client.UseGranaryClustering(configuration);
                client.AddGranaryClientLimits();
            }
        });
        return builder;
    }

    /// <summary>How many registrations each service (type, key, implementation) has, in a stable order.</summary>
    private static List<string> Describe(IServiceCollection services) =>
    [
        .. services
            .GroupBy(Name, StringComparer.Ordinal)
            .Select(g => $"{g.Key} x{g.Count().ToString(CultureInfo.InvariantCulture)}")
            .Order(StringComparer.Ordinal),
    ];

    private static string Name(ServiceDescriptor d)
    {
        var implementation = d.IsKeyedService
            ? d.KeyedImplementationType?.FullName ?? d.KeyedImplementationInstance?.GetType().FullName ?? "factory"
            : d.ImplementationType?.FullName ?? d.ImplementationInstance?.GetType().FullName ?? "factory";
        return $"{d.ServiceType.FullName} [{d.ServiceKey}] -> {implementation}";
    }
}
