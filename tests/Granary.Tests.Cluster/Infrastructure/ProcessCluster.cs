using System.Diagnostics;
using System.Globalization;
using System.Net;
using Granary.Client;
using Granary.Server;
using Microsoft.Extensions.Configuration;
using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.Hosting;
using Microsoft.Extensions.Logging;
using Orleans.Configuration;
using Orleans.Runtime;

namespace Granary.Tests.Cluster.Infrastructure;

/// <summary>Settings for a <see cref="ProcessCluster"/>.</summary>
public sealed record ProcessClusterOptions
{
    /// <summary>Redis used for membership.</summary>
    public required string RedisConnectionString { get; init; }

    /// <summary>PostgreSQL shard connection strings; empty means memory storage.</summary>
    public IReadOnlyList<string> Shards { get; init; } = [];

    /// <summary>Silos to start.</summary>
    public int Silos { get; init; } = 2;

    /// <summary>Unique per cluster so concurrent clusters in one Redis never meet.</summary>
    public string ClusterId { get; init; } = "test-" + Guid.NewGuid().ToString("N")[..8];

    /// <summary>Service id (storage rows are keyed by it).</summary>
    public string ServiceId { get; init; } = "granary-test";

    /// <summary>Extra configuration passed to every silo as environment variables (Section__Key form).</summary>
    public IReadOnlyDictionary<string, string> Settings { get; init; } = new Dictionary<string, string>();
}

/// <summary>One silo process of a <see cref="ProcessCluster"/>.</summary>
public sealed class SiloProcess
{
    internal SiloProcess(int index, Process process, int siloPort, int gatewayPort, string logFile)
    {
        Index = index;
        Process = process;
        SiloPort = siloPort;
        GatewayPort = gatewayPort;
        LogFile = logFile;
    }

    /// <summary>Position in start order.</summary>
    public int Index { get; }

    /// <summary>The OS process.</summary>
    public Process Process { get; }

    /// <summary>Silo-to-silo port (identifies the silo in membership).</summary>
    public int SiloPort { get; }

    /// <summary>Client gateway port.</summary>
    public int GatewayPort { get; }

    /// <summary>Where its console output goes.</summary>
    public string LogFile { get; }

    /// <summary>True until the process exits.</summary>
    public bool IsAlive => !Process.HasExited;

    /// <inheritdoc/>
    public override string ToString() => string.Create(CultureInfo.InvariantCulture, $"silo#{Index} (pid {Process.Id}, port {SiloPort})");
}

/// <summary>
/// Real silo processes (the production <c>granary-silo</c> binary) clustered through Redis, with an
/// Orleans client. Killing a silo is a SIGKILL: no goodbye in the membership table, exactly as
/// when a machine dies. Silos use the fast-failover membership profile.
/// </summary>
public sealed class ProcessCluster : IAsyncDisposable
{
    private readonly List<SiloProcess> _silos = [];
    private readonly string _clusterSecret = ClusterSecrets.New();
    private readonly string _directory;
    private IHost? _clientHost;

    private ProcessCluster(ProcessClusterOptions options)
    {
        Options = options;
        _directory = Directory.CreateTempSubdirectory("granary-cluster-").FullName;
    }

    /// <summary>The settings it was started with.</summary>
    public ProcessClusterOptions Options { get; }

    /// <summary>The silos started so far (dead ones included).</summary>
    public IReadOnlyList<SiloProcess> Silos => _silos;

    /// <summary>The client.</summary>
    public IClusterClient Client => _clientHost?.Services.GetRequiredService<IClusterClient>() ?? throw new InvalidOperationException("Not started.");

    /// <summary>The grain factory of the client.</summary>
    public IGrainFactory Grains => Client;

    /// <summary>Starts the silos, waits until all are active, then connects the client.</summary>
    public static async Task<ProcessCluster> StartAsync(ProcessClusterOptions options, CancellationToken ct = default)
    {
        ArgumentNullException.ThrowIfNull(options);
        var cluster = new ProcessCluster(options);
        try
        {
            for (var i = 0; i < options.Silos; i++)
            {
                cluster.LaunchSilo();
            }

            await cluster.ConnectClientAsync(ct);
            await cluster.WaitForActiveSilosAsync(options.Silos, TimeSpan.FromSeconds(90), ct);
            return cluster;
        }
        catch
        {
            await cluster.DisposeAsync();
            throw;
        }
    }

    /// <summary>Starts one more silo and waits until it is active.</summary>
    public async Task<SiloProcess> AddSiloAsync(CancellationToken ct = default)
    {
        var silo = LaunchSilo();
        await WaitForActiveSilosAsync(_silos.Count(s => s.IsAlive), TimeSpan.FromSeconds(60), ct);
        return silo;
    }

    /// <summary>SIGKILLs the silo process.</summary>
    public static void Kill(SiloProcess silo)
    {
        ArgumentNullException.ThrowIfNull(silo);
        silo.Process.Kill(entireProcessTree: true);
        silo.Process.WaitForExit(10_000);
    }

    /// <summary>The live silo hosting <paramref name="grain"/>'s activation, or null if none is known.</summary>
    public async Task<SiloProcess?> FindHostAsync(IAddressable grain)
    {
        var management = Grains.GetGrain<IManagementGrain>(0);
        var address = await management.GetActivationAddress(grain);
        return address is null ? null : _silos.FirstOrDefault(s => s.SiloPort == address.Endpoint.Port && s.IsAlive);
    }

    /// <summary>Waits until the membership table lists <paramref name="count"/> active silos.</summary>
    public async Task WaitForActiveSilosAsync(int count, TimeSpan timeout, CancellationToken ct = default)
    {
        async Task<int> ActiveAsync()
        {
            ct.ThrowIfCancellationRequested();
            foreach (var dead in _silos.Where(s => !s.IsAlive && s.Process.ExitCode != 137 && s.Process.ExitCode != -1))
            {
                throw new InvalidOperationException($"{dead} exited with code {dead.Process.ExitCode}: {OutputTail.OfFile(dead.LogFile, 30)}");
            }

            try
            {
                return (await Grains.GetGrain<IManagementGrain>(0).GetHosts(onlyActive: true).WaitAsync(TimeSpan.FromSeconds(5), ct)).Count;
            }
            catch (Exception ex) when (ClientRetry.IsTransient(ex))
            {
                return -1; // the client cannot reach the cluster yet
            }
        }

        try
        {
            await Eventually.ValueAsync($"{count} active silos (active count, -1 while unreachable)", ActiveAsync, n => n >= count, timeout, TimeSpan.FromMilliseconds(200));
        }
        catch (TimeoutException ex)
        {
            throw new TimeoutException($"{ex.Message}. Logs: {string.Join(" | ", _silos.Select(s => OutputTail.OfFile(s.LogFile, 10)))}", ex);
        }
    }

    /// <inheritdoc/>
    public async ValueTask DisposeAsync()
    {
        if (_clientHost is not null)
        {
            using var timeout = new CancellationTokenSource(TimeSpan.FromSeconds(5));
            try
            {
                await _clientHost.StopAsync(timeout.Token);
            }
            catch (Exception ex) when (ex is OperationCanceledException or OrleansException)
            {
                // The cluster is going away anyway.
            }

            _clientHost.Dispose();
        }

        foreach (var silo in _silos.Where(s => s.IsAlive))
        {
            Kill(silo);
        }

        foreach (var silo in _silos)
        {
            silo.Process.Dispose();
        }

        try
        {
            Directory.Delete(_directory, recursive: true);
        }
        catch (IOException)
        {
            // Logs of a failed run are worth keeping; the OS temp cleaner takes them later.
        }
    }

    private SiloProcess LaunchSilo()
    {
        var index = _silos.Count;
        var siloPort = FreePort.Next();
        var gatewayPort = FreePort.Next();
        var logFile = Path.Combine(_directory, string.Create(CultureInfo.InvariantCulture, $"silo-{index}.log"));
        var start = new ProcessStartInfo("dotnet")
        {
            WorkingDirectory = _directory, // keeps the repository's .local/cluster.json out of the silo's configuration
            UseShellExecute = false,
            RedirectStandardOutput = true,
            RedirectStandardError = true,
        };
        start.ArgumentList.Add(RepositoryPaths.SiloAssembly);
        var env = start.Environment;
        env["Orleans__ClusterId"] = Options.ClusterId;
        env["Orleans__ServiceId"] = Options.ServiceId;
        env["Granary__Cluster__Mode"] = "Redis";
        env["Granary__Scheduling__DemoHandlers"] = "true";
        // The passwords go the way an operator's do, apart from the connection strings
        // (Granary:Security:Servers), so every process-cluster test goes through that path.
        var redis = StackExchange.Redis.ConfigurationOptions.Parse(Options.RedisConnectionString);
        if (redis.Password is { Length: > 0 } redisPassword)
        {
            env["Granary__Security__Servers__RedisPassword"] = redisPassword;
            redis.Password = null;
        }

        env["Granary__Cluster__RedisConnectionString"] = redis.ToString();
        env["Granary__Cluster__MembershipProfile"] = "FastFailover";
        env["Granary__Security__ClusterSecret"] = _clusterSecret;
        env["Granary__Cluster__SiloPort"] = siloPort.ToString(CultureInfo.InvariantCulture);
        env["Granary__Cluster__GatewayPort"] = gatewayPort.ToString(CultureInfo.InvariantCulture);
        env["Granary__Storage__Mode"] = Options.Shards.Count == 0 ? "Memory" : "PostgresShards";
        for (var i = 0; i < Options.Shards.Count; i++)
        {
            var shard = new Npgsql.NpgsqlConnectionStringBuilder(Options.Shards[i]);
            if (shard.Password is { Length: > 0 } shardPassword)
            {
                // One server holds every shard of a test: one password.
                env["Granary__Security__Servers__PostgresPassword"] = shardPassword;
                shard.Password = null;
            }

            env[string.Create(CultureInfo.InvariantCulture, $"Granary__Storage__Shards__{i}")] = shard.ConnectionString;
        }

        env["DOTNET_gcServer"] = "0"; // several silos share two cores
        env["DOTNET_ThreadPool_UnfairSemaphoreSpinLimit"] = "0"; // and with the tests: no worker spins for work
        foreach (var (key, value) in Options.Settings)
        {
            env[key] = value;
        }

        var process = Process.Start(start) ?? throw new InvalidOperationException("Could not start the silo process.");
        var log = new StreamWriter(logFile) { AutoFlush = true };
        var sync = new Lock();
        var closed = false;
        void Write(string? line)
        {
            if (line is null)
            {
                return;
            }

            lock (sync)
            {
                // Output can still arrive after Exited closed the log (SIGKILL races the pipe readers).
                if (!closed)
                {
                    log.WriteLine(line);
                }
            }
        }

        process.OutputDataReceived += (_, e) => Write(e.Data);
        process.ErrorDataReceived += (_, e) => Write(e.Data);
        process.Exited += (_, _) =>
        {
            lock (sync)
            {
                closed = true;
                log.Dispose();
            }
        };
        process.EnableRaisingEvents = true;
        process.BeginOutputReadLine();
        process.BeginErrorReadLine();
        var silo = new SiloProcess(index, process, siloPort, gatewayPort, logFile);
        _silos.Add(silo);
        return silo;
    }

    /// <summary>
    /// Starts another client of the cluster whose gateways come from <paramref name="clustering"/>
    /// instead of Redis membership (for example a gateway list provider that pins one gateway), with
    /// the same settings otherwise. The caller disposes the host.
    /// </summary>
    public async Task<IHost> StartClientAsync(Action<IClientBuilder> clustering, CancellationToken ct = default)
    {
        ArgumentNullException.ThrowIfNull(clustering);
        var host = BuildClient(clustering);
        using var timeout = CancellationTokenSource.CreateLinkedTokenSource(ct);
        timeout.CancelAfter(TimeSpan.FromSeconds(90));
        await host.StartAsync(timeout.Token);
        return host;
    }

    /// <summary>Sends SIGSTOP (<paramref name="frozen"/>) or SIGCONT to the silo: a frozen silo keeps its sockets open but answers nothing, like an unreachable machine.</summary>
    public static void Freeze(SiloProcess silo, bool frozen = true)
    {
        ArgumentNullException.ThrowIfNull(silo);
        using var signal = Process.Start("kill", [frozen ? "-STOP" : "-CONT", silo.Process.Id.ToString(CultureInfo.InvariantCulture)]);
        signal.WaitForExit(10_000);
    }

    private async Task ConnectClientAsync(CancellationToken ct)
    {
        _clientHost = BuildClient(null);
        using var timeout = CancellationTokenSource.CreateLinkedTokenSource(ct);
        timeout.CancelAfter(TimeSpan.FromSeconds(90));
        await _clientHost.StartAsync(timeout.Token);
    }

    private IHost BuildClient(Action<IClientBuilder>? clustering)
    {
        var builder = Host.CreateEmptyApplicationBuilder(new HostApplicationBuilderSettings());
        builder.Configuration.AddInMemoryCollection(new Dictionary<string, string?>
        {
            ["Orleans:ClusterId"] = Options.ClusterId,
            ["Orleans:ServiceId"] = Options.ServiceId,
            ["Granary:Cluster:Mode"] = "Redis",
            ["Granary:Cluster:RedisConnectionString"] = Options.RedisConnectionString,
        });
        builder.Logging.SetMinimumLevel(LogLevel.Critical);
        builder.UseOrleansClient(client =>
        {
            if (clustering is null)
            {
                client.UseGranaryClustering(builder.Configuration);
            }
            else
            {
                client.Configure<ClusterOptions>(builder.Configuration.GetSection("Orleans"));
                clustering(client);
            }

            client.Configure<GatewayOptions>(g => g.GatewayListRefreshPeriod = TimeSpan.FromSeconds(1));
            // The client retries its first connection until a gateway is up.
            client.UseConnectionRetryFilter(async (_, token) =>
            {
                await Task.Delay(500, token); // retry pause; the start is bounded by the 90 s deadline below
                return true;
            });
        });
        return builder.Build();
    }
}
