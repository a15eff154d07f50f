using System.Diagnostics;
using System.Globalization;
using Granary.Caching;
using Granary.Client.Caching;
using Granary.Client.DependencyInjection;
using Granary.Client.Diagnostics;
using Granary.Client.Locks;
using Granary.Client.Queues;
using Granary.Client.Scheduling;
using Granary.Client.Transactions;
using Granary.Queues;
using Granary.Tests.Cluster.Infrastructure;
using Granary.Transactions;
using Microsoft.Extensions.Configuration;
using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.Diagnostics.HealthChecks;
using Microsoft.Extensions.Hosting;

namespace Granary.Tests.Cluster.Client;

/// <summary>
/// An application's view: <c>AddGranaryClient(configuration)</c> against a running cluster gives
/// every typed client, connected, with the shared options; the health checks report the cluster.
/// </summary>
public sealed class AddGranaryClientTests(TcpClusterFixture fixture) : IClassFixture<TcpClusterFixture>
{
    [Fact]
    public async Task Every_typed_client_resolves_from_the_container_and_works()
    {
        using var host = Build(GatewayPorts(), TimeSpan.FromSeconds(10));
        await host.StartAsync();
        var services = host.Services;
        var suffix = Guid.NewGuid().ToString("N")[..8];

        var locks = services.GetRequiredService<DistributedLocks>();
        await using (var lease = await locks.AcquireAsync("di-" + suffix, TimeSpan.FromSeconds(30), TimeSpan.FromSeconds(5)))
        {
            Assert.True(lease.Token > 0);
        }

        await CacheClient.CreateAsync(services.GetRequiredService<IClusterClient>(), "di-" + suffix, 1, new CacheSettings());
        var caches = services.GetRequiredService<CacheClients>();
        var cache = await caches.GetAsync("di-" + suffix);
        await cache.SetAsync("k", "v");
        Assert.Equal("v", await cache.GetAsync("k"));
        Assert.Same(cache, await caches.GetAsync("di-" + suffix));

        var queues = services.GetRequiredService<QueueClient>();
        await queues.CreateAsync("di-" + suffix, new QueueDefinition(Partitions: 1));
        var enqueued = await queues.EnqueueAsync("di-" + suffix, new QueueMessageInput([1, 2, 3]));
        Assert.False(string.IsNullOrEmpty(enqueued.Id));

        var tasks = services.GetRequiredService<TaskClient>();
        var declared = await tasks.DeclareQueueAsync("di-" + suffix);
        Assert.Equal("di-" + suffix, declared.Name);

        var transactions = services.GetRequiredService<TransactionClient>();
        // The coordinator answers: a transfer from an account nobody opened aborts with a typed error.
        var aborted = await Assert.ThrowsAsync<TransactionAbortedException>(() => transactions.TransferAsync("di-a-" + suffix, "di-b-" + suffix, 1));
        Assert.Contains("does not exist", aborted.Message, StringComparison.Ordinal);

        // The common options reach the clients from one place.
        Assert.Equal(TimeSpan.FromSeconds(10), locks.Options.CallTimeout);
        await host.StopAsync();
    }

    [Fact]
    public async Task Health_checks_are_healthy_with_the_cluster_up()
    {
        using var host = Build(GatewayPorts(), TimeSpan.FromSeconds(10));
        await host.StartAsync();

        var report = await host.Services.GetRequiredService<HealthCheckService>().CheckHealthAsync();

        Assert.True(report.Status == HealthStatus.Healthy, string.Join("; ", report.Entries.Select(e => $"{e.Key}: {e.Value.Status} {e.Value.Description}")));
        Assert.Equal([GranaryHealthChecks.Cluster, GranaryHealthChecks.Shards], report.Entries.Keys.Order(StringComparer.Ordinal));
        await host.StopAsync();
    }

    [Fact]
    public async Task Health_checks_are_unhealthy_within_the_call_timeout_when_no_gateway_answers()
    {
        // A client whose gateway is a port nobody listens on never connects; its checks must say so, not hang.
        var callTimeout = TimeSpan.FromSeconds(2);
        using var host = Build([ClosedPort()], callTimeout);
        var watch = Stopwatch.StartNew();

        var report = await host.Services.GetRequiredService<HealthCheckService>().CheckHealthAsync();

        Assert.Equal(HealthStatus.Unhealthy, report.Entries[GranaryHealthChecks.Cluster].Status);
        Assert.Equal(HealthStatus.Unhealthy, report.Entries[GranaryHealthChecks.Shards].Status);
        Assert.True(watch.Elapsed < callTimeout + TimeSpan.FromSeconds(5), $"the checks took {watch.Elapsed}");
    }

    [Fact]
    public async Task A_cancelled_token_cancels_the_call()
    {
        using var host = Build(GatewayPorts(), TimeSpan.FromSeconds(10));
        await host.StartAsync();
        using var cancelled = new CancellationTokenSource();
        await cancelled.CancelAsync();

        await Assert.ThrowsAnyAsync<OperationCanceledException>(() => host.Services.GetRequiredService<CacheClients>().GetAsync("never-" + Guid.NewGuid().ToString("N")[..8], cancelled.Token));
        await Assert.ThrowsAnyAsync<OperationCanceledException>(() => host.Services.GetRequiredService<DistributedLocks>().AcquireAsync("never", TimeSpan.FromSeconds(5), TimeSpan.FromSeconds(5), cancelled.Token));
        await host.StopAsync();
    }

    [Fact]
    public void Options_out_of_range_fail_at_start_up()
    {
        using var host = Build(GatewayPorts(), TimeSpan.FromMinutes(5));

        var error = Assert.Throws<Microsoft.Extensions.Options.OptionsValidationException>(() => host.Services.GetRequiredService<Microsoft.Extensions.Options.IOptions<GranaryClientOptions>>().Value);

        Assert.Contains("Granary:Client:CallTimeout", error.Message, StringComparison.Ordinal);
    }

    private int[] GatewayPorts() =>
        fixture.Cluster.Silos.Select(s => (s.GatewayAddress ?? throw new InvalidOperationException("a silo has no gateway")).Endpoint.Port).ToArray();

    private static int ClosedPort()
    {
        using var listener = new System.Net.Sockets.TcpListener(System.Net.IPAddress.Loopback, 0);
        listener.Start();
        return ((System.Net.IPEndPoint)listener.LocalEndpoint).Port;
    }

    private IHost Build(int[] gatewayPorts, TimeSpan callTimeout)
    {
        var builder = Host.CreateApplicationBuilder(new HostApplicationBuilderSettings { DisableDefaults = true });
        var settings = new Dictionary<string, string?>
        {
            ["Granary:Cluster:Mode"] = "Localhost",
            ["Orleans:ClusterId"] = fixture.Cluster.Options.ClusterId,
            ["Orleans:ServiceId"] = fixture.Cluster.Options.ServiceId,
            ["Granary:Client:CallTimeout"] = callTimeout.ToString("c", CultureInfo.InvariantCulture),
        };
        for (var i = 0; i < gatewayPorts.Length; i++)
        {
            settings[$"Granary:Cluster:ClientGatewayPorts:{i}"] = gatewayPorts[i].ToString(CultureInfo.InvariantCulture);
        }

        builder.Configuration.AddInMemoryCollection(settings);
        builder.Services.AddGranaryClient(builder.Configuration);
        builder.Services.AddHealthChecks().AddGranaryHealthChecks();
        return builder.Build();
    }
}
