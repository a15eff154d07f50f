using System.Collections.Concurrent;
using System.Net;
using Granary.Cli.Cli;
using Granary.Scheduling;
using Granary.Server;
using Granary.Server.Configuration;
using Granary.Server.Storage;
using Microsoft.Extensions.Configuration;
using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.Hosting;
using Microsoft.Extensions.Logging;
using Orleans.Configuration;
using Orleans.Runtime.Hosting;
using Orleans.Serialization;
using Orleans.Storage;

namespace Granary.Cli.Scenarios.Scheduling;

/// <summary>
/// A private two-silo cluster inside this process for the worker-loss part of the tasks tour:
/// silo A (primary, hosts the development membership table) and silo B, both running workers,
/// sharing one <see cref="SharedProcessStorage"/> in place of the database, each recording its
/// handler runs in a <see cref="RecordedRuns"/>.
/// </summary>
/// <remarks>
/// <see cref="CrashWorkerSiloAsync"/> makes B's grains behave as a killed process's would. Stopping
/// an in-process silo, even with no grace period, is not enough: its grains' code goes on running
/// in this process, so a handler that was running on B finishes afterwards and its worker tries to
/// acknowledge the run (measured: every handler running on B at the stop finished about 800 ms
/// later), and its grains' timers go on writing state. So the crash first cuts B off: from that
/// instant no grain call made by B's grains leaves B, calls into B's grains are refused, B's storage
/// calls fail and its run journal records nothing more. B's runtime still tells the others that it
/// is leaving (a killed process is found by failed probes instead, which the process-cluster tests
/// exercise); cutting that off too left the survivor waiting up to 20 s on a silo half there.
/// </remarks>
internal sealed class InProcessTaskCluster : IAsyncDisposable
{
    /// <summary>Label of silo A in the run journal.</summary>
    public const string PrimarySilo = "A";

    /// <summary>Label of silo B in the run journal.</summary>
    public const string WorkerSilo = "B";

    private readonly IHost _primary;
    private readonly RecordedRuns _runs;
    private readonly CrashSwitch _workerCrash;
    private IHost? _worker;

    private InProcessTaskCluster(IHost primary, IHost worker, RecordedRuns runs, CrashSwitch workerCrash)
    {
        _primary = primary;
        _worker = worker;
        _runs = runs;
        _workerCrash = workerCrash;
    }

    /// <summary>Grain factory of silo A.</summary>
    public IGrainFactory Grains => _primary.Services.GetRequiredService<IGrainFactory>();

    /// <summary>Starts both silos; their workers record every handler run in <paramref name="runs"/> (tagged <c>A</c> and <c>B</c>).</summary>
    public static async Task<InProcessTaskCluster> StartAsync(IReadOnlyDictionary<string, string?> scheduling, RecordedRuns runs, CancellationToken cancellationToken)
    {
        ArgumentNullException.ThrowIfNull(runs);
        var rows = new ConcurrentDictionary<(string State, GrainId Grain), (byte[] Data, string ETag)>();
        var clusterId = "granary-tour-" + Guid.NewGuid().ToString("N")[..8];
        var primaryPort = LoopbackPort.Free();
        var primary = Build(clusterId, primaryPort, null, rows, scheduling, runs.For(PrimarySilo), crash: null);
        await primary.StartAsync(cancellationToken);
        var workerPort = LoopbackPort.Free();
        var crash = new CrashSwitch();
        var worker = Build(clusterId, workerPort, new IPEndPoint(IPAddress.Loopback, primaryPort), rows, scheduling, runs.For(WorkerSilo), crash);
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

        return new InProcessTaskCluster(primary, worker, runs, crash);
    }

    /// <summary>
    /// Kills silo B: cuts its grains off (no calls out or in, no storage, no journal), then stops it
    /// with no grace period.
    /// </summary>
    public async Task CrashWorkerSiloAsync()
    {
        if (_worker is not { } worker)
        {
            return;
        }

        _worker = null;
        _workerCrash.Crashed = true;
        _runs.Silence(WorkerSilo);
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
        IReadOnlyDictionary<string, string?> scheduling,
        ITaskRunJournal journal,
        CrashSwitch? crash)
    {
        var builder = Host.CreateEmptyApplicationBuilder(new HostApplicationBuilderSettings());
        builder.Configuration.AddConfiguration(GranaryConfiguration.Build());
        builder.Configuration.AddInMemoryCollection(scheduling);
        builder.Configuration.AddInMemoryCollection(new Dictionary<string, string?>
        {
            ["Granary:Cluster:Mode"] = "Localhost", // as the clustering below
            ["Granary:Scheduling:DemoHandlers"] = "true", // the tour's tasks are the demonstration handlers
            // A private loopback cluster inside this process: the console's own TLS settings (a client
            // certificate, when the console talks to a cluster with TLS) are not a silo's.
            ["Granary:Security:Tls:Enabled"] = "false",
        });
        ClusterConnection.ConfigureQuietLogging(builder.Logging, builder.Configuration);
        builder.Logging.AddFilter("Granary", LogLevel.Critical); // the crash makes expected noise (failed dispatches, lost leases)
        builder.UseOrleans(silo =>
        {
            silo.UseLocalhostClustering(siloPort, LoopbackPort.Free(), primary, "granary-tour", clusterId);
            silo.Configure<ClusterMembershipOptions>(m =>
            {
                // Lab failover timings, as the silo-loss tests use: a dead silo is declared in ~2 s.
                m.ProbeTimeout = TimeSpan.FromSeconds(1);
                m.NumMissedProbesLimit = 2;
                m.NumVotesForDeathDeclaration = 1;
                m.TableRefreshTimeout = TimeSpan.FromSeconds(1);
            });
            silo.Services.AddGrainStorage(StorageNames.Default, (sp, _) => new SharedProcessStorage(sp.GetRequiredService<Serializer>(), rows, () => crash?.Crashed == true));
            silo.Services.AddSingleton(journal);
            if (crash is not null)
            {
                // Grain calls only: the runtime's own messages (membership, directory) still flow.
                silo.AddOutgoingGrainCallFilter(context => crash.Crashed && !context.TargetId.IsSystemTarget() ? throw CrashSwitch.Dead() : context.Invoke());
                silo.AddIncomingGrainCallFilter(context => crash.Crashed ? throw CrashSwitch.Dead() : context.Invoke());
            }

            silo.AddGranaryServices(builder.Configuration);
        });
        return builder.Build();
    }

    /// <summary>Set when silo B is killed; read by its grain call filters.</summary>
    private sealed class CrashSwitch
    {
        private volatile bool _crashed;

        public bool Crashed
        {
            get => _crashed;
            set => _crashed = value;
        }

        public static SiloUnavailableException Dead() => new("silo B was killed");
    }
}
