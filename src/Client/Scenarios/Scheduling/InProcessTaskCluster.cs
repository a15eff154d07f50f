using System.Collections.Concurrent;
using System.Net;
using System.Net.Sockets;
using Granary.Client.Cli;
using Granary.Hosting;
using Granary.Hosting.Configuration;
using Granary.Hosting.Storage;
using Microsoft.Extensions.Configuration;
using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.Hosting;
using Microsoft.Extensions.Logging;
using Orleans.Configuration;
using Orleans.Runtime.Hosting;
using Orleans.Serialization;
using Orleans.Storage;

namespace Granary.Client.Scenarios.Scheduling;

/// <summary>
/// A private two-silo cluster inside this process for the worker-loss part of the tasks tour:
/// silo A (primary, hosts the development membership table) and silo B, both running workers,
/// sharing one <see cref="SharedProcessStorage"/> in place of the database. <see cref="CrashWorkerSiloAsync"/>
/// stops B with no grace period: its activations and running handlers are dropped without handing
/// anything over, and the cluster learns of it by failed probes.
/// </summary>
internal sealed class InProcessTaskCluster : IAsyncDisposable
{
    private readonly IHost _primary;
    private IHost? _worker;

    private InProcessTaskCluster(IHost primary, IHost worker)
    {
        _primary = primary;
        _worker = worker;
    }

    /// <summary>Grain factory of silo A.</summary>
    public IGrainFactory Grains => _primary.Services.GetRequiredService<IGrainFactory>();

    /// <summary><c>:port</c> of silo B, as it appears in the silo address its workers report.</summary>
    public string WorkerSiloPort { get; private set; } = string.Empty;

    /// <summary>Starts both silos.</summary>
    public static async Task<InProcessTaskCluster> StartAsync(IReadOnlyDictionary<string, string?> scheduling, CancellationToken cancellationToken)
    {
        var rows = new ConcurrentDictionary<(string State, GrainId Grain), (byte[] Data, string ETag)>();
        var clusterId = "granary-tour-" + Guid.NewGuid().ToString("N")[..8];
        var primaryPort = FreePort();
        var primary = Build(clusterId, primaryPort, null, rows, scheduling);
        await primary.StartAsync(cancellationToken);
        var workerPort = FreePort();
        var worker = Build(clusterId, workerPort, new IPEndPoint(IPAddress.Loopback, primaryPort), rows, scheduling);
        try
        {
            await worker.StartAsync(cancellationToken);
        }
        catch
        {
            await primary.StopAsync(CancellationToken.None);
            primary.Dispose();
            worker.Dispose();
            throw;
        }

        return new InProcessTaskCluster(primary, worker) { WorkerSiloPort = ":" + workerPort.ToString(System.Globalization.CultureInfo.InvariantCulture) };
    }

    /// <summary>Stops silo B abruptly (no grace period).</summary>
    public async Task CrashWorkerSiloAsync()
    {
        if (_worker is { } worker)
        {
            _worker = null;
            using var none = new CancellationTokenSource();
            await none.CancelAsync();
            try
            {
                await worker.StopAsync(none.Token);
            }
            catch (Exception ex) when (ex is not OutOfMemoryException)
            {
                // A crash: whatever did not stop is abandoned.
            }

            worker.Dispose();
        }
    }

    /// <inheritdoc/>
    public async ValueTask DisposeAsync()
    {
        await CrashWorkerSiloAsync();
        using var timeout = new CancellationTokenSource(TimeSpan.FromSeconds(5));
        try
        {
            await _primary.StopAsync(timeout.Token);
        }
        catch (OperationCanceledException)
        {
            // Shutting down anyway.
        }

        _primary.Dispose();
    }

    private static IHost Build(
        string clusterId,
        int siloPort,
        IPEndPoint? primary,
        ConcurrentDictionary<(string State, GrainId Grain), (byte[] Data, string ETag)> rows,
        IReadOnlyDictionary<string, string?> scheduling)
    {
        var builder = Host.CreateEmptyApplicationBuilder(new HostApplicationBuilderSettings());
        builder.Configuration.AddConfiguration(GranaryConfiguration.Build());
        builder.Configuration.AddInMemoryCollection(scheduling);
        ClusterConnection.ConfigureQuietLogging(builder.Logging, builder.Configuration);
        builder.Logging.AddFilter("Granary", LogLevel.Critical); // the crash makes expected noise (failed dispatches, lost leases)
        builder.UseOrleans(silo =>
        {
            silo.UseLocalhostClustering(siloPort, FreePort(), primary, "granary-tour", clusterId);
            silo.Configure<ClusterMembershipOptions>(m =>
            {
                // Lab failover timings, as the silo-loss tests use: a dead silo is declared in ~2 s.
                m.ProbeTimeout = TimeSpan.FromSeconds(1);
                m.NumMissedProbesLimit = 2;
                m.NumVotesForDeathDeclaration = 1;
                m.TableRefreshTimeout = TimeSpan.FromSeconds(1);
            });
            silo.Services.AddGrainStorage(StorageNames.Default, (sp, _) => new SharedProcessStorage(sp.GetRequiredService<Serializer>(), rows));
            silo.AddGranaryServices(builder.Configuration);
        });
        return builder.Build();
    }

    private static int FreePort()
    {
        using var listener = new TcpListener(IPAddress.Loopback, 0);
        listener.Start();
        return ((IPEndPoint)listener.LocalEndpoint).Port;
    }
}
