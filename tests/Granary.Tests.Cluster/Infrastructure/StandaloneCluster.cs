using System.Globalization;
using Orleans.Runtime;
using Orleans.TestingHost;

namespace Granary.Tests.Cluster.Infrastructure;

/// <summary>Settings for a <see cref="StandaloneCluster"/>.</summary>
public sealed record StandaloneClusterOptions
{
    /// <summary>Redis used for membership.</summary>
    public required string RedisConnectionString { get; init; }

    /// <summary>PostgreSQL shard connection strings; empty means memory storage.</summary>
    public IReadOnlyList<string> Shards { get; init; } = [];

    /// <summary>Silos to deploy.</summary>
    public short Silos { get; init; } = 2;

    /// <summary>Extra silo configuration, as configuration keys (<c>Granary:Locks:MaxCallWait</c>).</summary>
    public IReadOnlyDictionary<string, string> Settings { get; init; } = new Dictionary<string, string>();
}

/// <summary>One silo process of a <see cref="StandaloneCluster"/>.</summary>
public sealed class StandaloneSilo
{
    internal StandaloneSilo(int index, SiloHandle handle, int processId)
    {
        Index = index;
        Handle = handle;
        ProcessId = processId;
    }

    /// <summary>Position in start order.</summary>
    public int Index { get; }

    /// <summary>TestCluster's handle of the silo.</summary>
    public SiloHandle Handle { get; }

    /// <summary>The OS process id of the silo.</summary>
    public int ProcessId { get; }

    /// <summary>Silo-to-silo port (identifies the silo in membership).</summary>
    public int SiloPort => Handle.SiloAddress.Endpoint.Port;

    /// <summary>True until the process exits (killed, or stopped itself after being declared dead).</summary>
    public bool IsAlive => StandaloneProcesses.IsRunning(ProcessId);

    /// <inheritdoc/>
    public override string ToString() => string.Create(CultureInfo.InvariantCulture, $"silo#{Index} (pid {ProcessId}, port {SiloPort})");
}

/// <summary>
/// A <see cref="TestCluster"/> whose silos are separate processes (<see cref="StandaloneSiloHandle"/>
/// running tests/Granary.Tests.SiloHost, wired by <c>AddGranary</c> as the production silo is),
/// clustered through Redis with the fast-failover membership profile, grain state on PostgreSQL
/// shards. <see cref="KillAsync"/> is TestCluster's <c>KillSiloAsync</c>, which for a standalone silo
/// is a SIGKILL: no goodbye in the membership table, exactly as when a machine dies.
/// </summary>
public sealed class StandaloneCluster : IAsyncDisposable
{
    /// <summary>How long a dead silo may take to be declared dead (fast-failover profile: ~2 s; generous for a loaded machine).</summary>
    private static readonly TimeSpan DeathBound = TimeSpan.FromSeconds(30);

    private readonly List<StandaloneSilo> _silos = [];
    private readonly Lock _silosLock = new();

    private StandaloneCluster(TestCluster cluster) => Cluster = cluster;

    /// <summary>The underlying TestCluster.</summary>
    public TestCluster Cluster { get; }

    /// <summary>The silos started so far (dead ones included).</summary>
    public IReadOnlyList<StandaloneSilo> Silos
    {
        get
        {
            lock (_silosLock)
            {
                return [.. _silos];
            }
        }
    }

    /// <summary>TestCluster's client.</summary>
    public IClusterClient Client => Cluster.Client;

    /// <summary>The grain factory of the client.</summary>
    public IGrainFactory Grains => Cluster.GrainFactory;

    /// <summary>Deploys the silos and the client and waits until every silo is active.</summary>
    public static async Task<StandaloneCluster> StartAsync(StandaloneClusterOptions options)
    {
        ArgumentNullException.ThrowIfNull(options);
        var builder = new TestClusterBuilder(options.Silos);
        builder.Options.ServiceId = "granary-test";
        builder.Options.ClusterId = "sa-" + Guid.NewGuid().ToString("N")[..8];
        builder.Options.UseTestClusterMembership = false;
        builder.Options.ConnectionTransport = ConnectionTransportType.TcpSocket;
        builder.Options.ConfigureFileLogging = false;

        // The production silo has Orleans' default grain directory; TestCluster adds the distributed
        // one by default, which keeps a crashed silo's range leased for 30 s.
        builder.Options.SiloBuilderConfiguratorTypes.RemoveAll(t => t is not null && t.Contains("ConfigureDistributedGrainDirectory", StringComparison.Ordinal));
        builder.Options.SiloBuilderConfiguratorTypes.Add("Granary.Tests.SiloHost.GranaryStandaloneSiloConfigurator, Granary.Tests.SiloHost");
        builder.AddClientBuilderConfigurator<GranaryClientConfigurator>();
        builder.AddClientBuilderConfigurator<RedisClusteringConfigurator>();
        builder.AddClientBuilderConfigurator<TlsClientConfigurator>();
        builder.CreateSiloAsync = StandaloneSiloHandle.CreateDelegate(RepositoryPaths.StandaloneSiloExecutable);

        builder.Properties["Granary:Cluster:RedisConnectionString"] = options.RedisConnectionString;
        builder.Properties["Granary:Security:ClusterSecret"] = ClusterSecrets.New();
        builder.Properties["Granary:Cluster:MembershipProfile"] = "FastFailover";
        builder.Properties["Granary:Scheduling:DemoHandlers"] = "true";
        builder.Properties["Granary:Storage:Mode"] = options.Shards.Count == 0 ? "Memory" : "PostgresShards";
        for (var i = 0; i < options.Shards.Count; i++)
        {
            builder.Properties[string.Create(CultureInfo.InvariantCulture, $"Granary:Storage:Shards:{i}")] = options.Shards[i];
        }

        foreach (var (key, value) in options.Settings)
        {
            builder.Properties[key] = value;
        }

        var cluster = new StandaloneCluster(builder.Build());
        try
        {
            await cluster.Cluster.DeployAsync();
            foreach (var handle in cluster.Cluster.Silos)
            {
                cluster.Track(handle);
            }

            await cluster.WaitForActiveSilosAsync(options.Silos, TimeSpan.FromSeconds(90));
            return cluster;
        }
        catch
        {
            await cluster.DisposeAsync();
            throw;
        }
    }

    /// <summary>Starts one more silo process (on new ports) and waits until it is active.</summary>
    /// <exception cref="InvalidOperationException">The silo did not start or did not become active.</exception>
    public async Task<StandaloneSilo> AddSiloAsync()
    {
        SiloHandle handle;
        try
        {
            handle = await Cluster.StartAdditionalSiloAsync(startAdditionalSiloOnNewPort: true);
        }
        catch (Exception ex) when (ex is not OutOfMemoryException)
        {
            throw new InvalidOperationException("The additional silo did not start: " + ex.Message, ex);
        }

        var silo = Track(handle);
        try
        {
            await Eventually.TrueAsync($"{silo} is active", async () => await StatusOfAsync(silo) == SiloStatus.Active, TimeSpan.FromSeconds(60), TimeSpan.FromMilliseconds(200));
        }
        catch (TimeoutException ex)
        {
            throw new InvalidOperationException(ex.Message, ex);
        }

        return silo;
    }

    /// <summary>
    /// SIGKILLs the silos (TestCluster's <c>KillSiloAsync</c>), then checks that each process is gone
    /// and waits until the cluster's membership declares each one dead.
    /// </summary>
    public async Task KillAsync(params StandaloneSilo[] silos)
    {
        await KillProcessesAsync(silos);
        foreach (var silo in silos)
        {
            await WaitUntilDeclaredDeadAsync(silo);
        }
    }

    /// <summary>
    /// SIGKILLs the silos and checks that each process is gone, without waiting for membership (the
    /// last silo of a cluster has nobody left to declare it dead until a new one joins).
    /// </summary>
    public async Task KillProcessesAsync(params StandaloneSilo[] silos)
    {
        ArgumentNullException.ThrowIfNull(silos);
        foreach (var silo in silos)
        {
            await Cluster.KillSiloAsync(silo.Handle);
        }

        foreach (var silo in silos)
        {
            await Eventually.TrueAsync($"{silo}'s process has exited after the kill", () => !silo.IsAlive, TimeSpan.FromSeconds(10));
        }
    }

    /// <summary>Waits until the cluster's membership lists <paramref name="silo"/> as dead.</summary>
    public Task WaitUntilDeclaredDeadAsync(StandaloneSilo silo)
    {
        ArgumentNullException.ThrowIfNull(silo);
        return Eventually.TrueAsync($"membership declares {silo} dead", async () => await StatusOfAsync(silo) == SiloStatus.Dead, DeathBound, TimeSpan.FromMilliseconds(100));
    }

    /// <summary>The live silo hosting <paramref name="grain"/>'s activation, or null if none is known.</summary>
    public async Task<StandaloneSilo?> FindHostAsync(IAddressable grain)
    {
        var address = await Grains.GetGrain<IManagementGrain>(0).GetActivationAddress(grain);
        return address is null ? null : Silos.FirstOrDefault(s => s.Handle.SiloAddress.Equals(address) && s.IsAlive);
    }

    /// <summary>Waits until the membership table lists <paramref name="count"/> active silos.</summary>
    public Task WaitForActiveSilosAsync(int count, TimeSpan timeout) =>
        Eventually.TrueAsync(
            $"{count} active silos",
            async () => await ActiveHostsAsync() is { } hosts && hosts.Count >= count,
            timeout,
            TimeSpan.FromMilliseconds(200));

    /// <inheritdoc/>
    public async ValueTask DisposeAsync()
    {
        await Cluster.KillClientAsync();
        foreach (var silo in Cluster.Silos.ToList())
        {
            // A kill, not a graceful stop: a stop waits for every silo to hand its grains over.
            await Cluster.KillSiloAsync(silo);
        }

        await Cluster.DisposeAsync();
    }

    private StandaloneSilo Track(SiloHandle handle)
    {
        lock (_silosLock)
        {
            var silo = new StandaloneSilo(_silos.Count, handle, StandaloneProcesses.FindBySiloPort(handle.SiloAddress.Endpoint.Port));
            _silos.Add(silo);
            return silo;
        }
    }

    private async Task<SiloStatus?> StatusOfAsync(StandaloneSilo silo)
    {
        try
        {
            var hosts = await Grains.GetGrain<IManagementGrain>(0).GetHosts(onlyActive: false).WaitAsync(TimeSpan.FromSeconds(5));
            return hosts.TryGetValue(silo.Handle.SiloAddress, out var status) ? status : null;
        }
        catch (Exception ex) when (ClientRetry.IsTransient(ex))
        {
            return null;
        }
    }

    private async Task<Dictionary<SiloAddress, SiloStatus>?> ActiveHostsAsync()
    {
        try
        {
            return await Grains.GetGrain<IManagementGrain>(0).GetHosts(onlyActive: true).WaitAsync(TimeSpan.FromSeconds(5));
        }
        catch (Exception ex) when (ClientRetry.IsTransient(ex))
        {
            return null;
        }
    }
}

/// <summary>Finds and watches the OS processes of standalone silos (Linux <c>/proc</c>).</summary>
internal static class StandaloneProcesses
{
    /// <summary>
    /// The id of the silo process listening on <paramref name="siloPort"/>: TestCluster passes each
    /// standalone silo its configuration, ports included, on the command line.
    /// </summary>
    public static int FindBySiloPort(int siloPort)
    {
        var marker = string.Create(CultureInfo.InvariantCulture, $"\"Key\":\"Orleans:Endpoints:SiloPort\",\"Value\":\"{siloPort}\"");
        foreach (var directory in Directory.EnumerateDirectories("/proc"))
        {
            if (!int.TryParse(Path.GetFileName(directory), NumberStyles.None, CultureInfo.InvariantCulture, out var pid))
            {
                continue;
            }

            try
            {
                var commandLine = File.ReadAllText(Path.Combine(directory, "cmdline"));
                if (commandLine.Contains("Granary.Tests.SiloHost", StringComparison.Ordinal) && commandLine.Contains(marker, StringComparison.Ordinal))
                {
                    return pid;
                }
            }
            catch (Exception ex) when (ex is IOException or UnauthorizedAccessException)
            {
                // The process ended while it was being read, or is not ours to read.
            }
        }

        throw new InvalidOperationException(string.Create(CultureInfo.InvariantCulture, $"No standalone silo process with silo port {siloPort} was found."));
    }

    /// <summary>True while the process exists and is not a zombie (killed, waiting to be reaped).</summary>
    public static bool IsRunning(int pid)
    {
        try
        {
            var stat = File.ReadAllText(string.Create(CultureInfo.InvariantCulture, $"/proc/{pid}/stat"));

            // "pid (comm) S ...": the state follows the last closing parenthesis.
            var state = stat[(stat.LastIndexOf(')') + 2)..][0];
            return state is not ('Z' or 'X');
        }
        catch (Exception ex) when (ex is IOException or UnauthorizedAccessException)
        {
            return false;
        }
    }
}
