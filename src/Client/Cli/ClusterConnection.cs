using System.Net;
using System.Net.Sockets;
using Granary.Client;
using Granary.Client.Configuration;
using Granary.Client.Security;
using Granary.Server;
using Granary.Server.Configuration;
using Granary.Server.Security;
using Microsoft.Extensions.Configuration;
using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.Hosting;
using Microsoft.Extensions.Logging;
using Microsoft.Extensions.Options;

namespace Granary.Cli.Cli;

/// <summary>
/// A connection to a Granary cluster: an Orleans client to the cluster named by configuration, or
/// (embedded) an in-process silo with memory storage on free loopback ports.
/// </summary>
public sealed class ClusterConnection : IAsyncDisposable
{
    private static readonly TimeSpan ConnectTimeout = TimeSpan.FromSeconds(20);

    private readonly IHost _host;
    private readonly bool _owned;

    private ClusterConnection(IHost host, bool embedded, IConfiguration configuration, bool owned = true)
    {
        _host = host;
        _owned = owned;
        Embedded = embedded;
        Configuration = configuration;
        Grains = host.Services.GetRequiredService<IGrainFactory>();
        Client = host.Services.GetRequiredService<IClusterClient>();
    }

    /// <summary>True when the cluster is an in-process silo.</summary>
    public bool Embedded { get; }

    /// <summary>The grain factory.</summary>
    public IGrainFactory Grains { get; }

    /// <summary>The cluster client.</summary>
    public IClusterClient Client { get; }

    /// <summary>The configuration the connection was made from.</summary>
    public IConfiguration Configuration { get; }

    /// <summary>The console's <c>--token-file</c>, which overrides <c>Granary:Client</c>'s credential; null when not given.</summary>
    public static string? TokenFile { get; set; }

    /// <summary>More set-up for the embedded silo, after Granary's own (a tool built on the console adds its grains' runtime); null for none.</summary>
    public static Action<ISiloBuilder>? ConfigureEmbeddedSilo { get; set; }

    /// <summary>Connects as configuration says, or starts an embedded silo.</summary>
    public static async Task<ClusterConnection> OpenAsync(bool embedded, CancellationToken cancellationToken)
    {
        var configuration = GranaryConfiguration.Build();
        var builder = Host.CreateEmptyApplicationBuilder(new HostApplicationBuilderSettings());
        builder.Configuration.AddConfiguration(configuration);
        if (TokenFile is { } tokenFile)
        {
            builder.Configuration.AddInMemoryCollection(new Dictionary<string, string?>
            {
                ["Granary:Client:TokenFile"] = Path.GetFullPath(tokenFile),
                ["Granary:Client:Token"] = null,
            });
        }

        ConfigureQuietLogging(builder.Logging, configuration);
        if (embedded)
        {
            builder.Configuration.AddInMemoryCollection(new Dictionary<string, string?>
            {
                ["Granary:Storage:Mode"] = "Memory",
                ["Granary:Cluster:Mode"] = "Localhost",
                ["Orleans:ClusterId"] = "granary-embedded",

                // The quick start runs the demonstration task handlers on its own silo.
                ["Granary:Scheduling:DemoHandlers"] = "true",

                // The quick start is one process: no TLS whatever the cluster's settings say.
                ["Granary:Security:Tls:Enabled"] = "false",
            });
            var siloPort = LoopbackPort.Free();
            var gatewayPort = LoopbackPort.Free();
            builder.UseOrleans(silo =>
            {
                silo.UseLocalhostClustering(siloPort, gatewayPort);
                silo.AddGranaryStorage(builder.Configuration).AddGranaryServices(builder.Configuration);
                ConfigureEmbeddedSilo?.Invoke(silo);
            });
        }
        else
        {
            await EnsureGatewayReachableAsync(configuration, cancellationToken);
            try
            {
                builder.UseOrleansClient(client => client.UseGranaryClustering(builder.Configuration).UseConnectionRetryFilter<TlsConnectDiagnosis>());
            }
            catch (OptionsValidationException ex) when (ex.OptionsName == GranaryTlsOptions.SectionName)
            {
                throw new TransportSecurityException(string.Join(" ", ex.Failures), ex);
            }
        }

        var host = builder.Build();
        try
        {
            using var timeout = CancellationTokenSource.CreateLinkedTokenSource(cancellationToken);
            timeout.CancelAfter(ConnectTimeout);
            await host.StartAsync(timeout.Token);
        }
        catch (Exception ex) when (ex is not OperationCanceledException || !cancellationToken.IsCancellationRequested)
        {
            var finding = (host.Services.GetService<IClientConnectionRetryFilter>() as TlsConnectDiagnosis)?.Finding;
            host.Dispose();
            if (finding is not null)
            {
                throw new TransportSecurityException(finding, ex);
            }

            var mode = configuration["Granary:Cluster:Mode"] ?? "Localhost";
            var reason = ex is OperationCanceledException
                ? $"nothing answered within {ConnectTimeout.TotalSeconds:F0} s"
                : ex.GetBaseException().Message.TrimEnd('.');
            throw new ClusterUnavailableException(
                embedded
                    ? $"could not start the embedded silo: {reason}"
                    : $"could not connect to the cluster (mode {mode}, cluster id {configuration["Orleans:ClusterId"]}): {reason}. Start one with scripts/cluster.sh up, or pass --embedded.",
                ex);
        }

        return new ClusterConnection(host, embedded, configuration);
    }

    /// <summary>A handle on the same cluster whose disposal leaves it running (for the commands of a <c>granary script</c>).</summary>
    public ClusterConnection Borrow() => new(_host, Embedded, Configuration, owned: false);

    /// <inheritdoc/>
    public async ValueTask DisposeAsync()
    {
        if (!_owned)
        {
            return;
        }

        using var timeout = new CancellationTokenSource(TimeSpan.FromSeconds(10));
        try
        {
            await _host.StopAsync(timeout.Token);
        }
        catch (OperationCanceledException)
        {
            // Shutting down anyway.
        }

        _host.Dispose();
    }

    internal static void ConfigureQuietLogging(ILoggingBuilder logging, IConfiguration configuration)
    {
        logging.ClearProviders();
        logging.SetMinimumLevel(LogLevel.Error);
        logging.AddFilter("Orleans", LogLevel.Critical);
        logging.AddFilter("Microsoft", LogLevel.Critical);
        logging.AddSimpleConsole(o => o.SingleLine = true);
    }

    /// <summary>Localhost mode: fail at once with a clear message when no gateway port accepts connections.</summary>
    private static async Task EnsureGatewayReachableAsync(IConfiguration configuration, CancellationToken cancellationToken)
    {
        var options = new Granary.Client.Configuration.GranaryClusterOptions();
        configuration.GetSection(Granary.Client.Configuration.GranaryClusterOptions.SectionName).Bind(options);
        if (options.Mode != Granary.Client.Configuration.ClusteringMode.Localhost)
        {
            return;
        }

        var ports = options.ClientGatewayPorts.Length > 0 ? options.ClientGatewayPorts : [options.GatewayPort];
        foreach (var port in ports)
        {
            using var probe = new TcpClient();
            using var timeout = CancellationTokenSource.CreateLinkedTokenSource(cancellationToken);
            timeout.CancelAfter(TimeSpan.FromSeconds(2));
            try
            {
                await probe.ConnectAsync(IPAddress.Loopback, port, timeout.Token);
                return;
            }
            catch (Exception ex) when (ex is SocketException or OperationCanceledException && !cancellationToken.IsCancellationRequested)
            {
                // Try the next one.
            }
        }

        throw new ClusterUnavailableException(
            $"no silo gateway listens on 127.0.0.1:{string.Join(",", ports)} (Granary:Cluster:Mode is Localhost). Start a silo (dotnet run --project src/Silo) or a cluster (scripts/cluster.sh up), or pass --embedded.",
            new SocketException((int)SocketError.ConnectionRefused));
    }
}

/// <summary>The cluster could not be reached or started.</summary>
public sealed class ClusterUnavailableException(string message, Exception inner) : Exception(message, inner);
