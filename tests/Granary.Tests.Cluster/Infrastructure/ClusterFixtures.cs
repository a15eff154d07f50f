using Granary.Caching;
using Granary.Client;
using Granary.Client.Configuration;
using Granary.Client.Security;
using Granary.Server;
using Granary.Server.Security;
using Granary.Server.Storage;
using Microsoft.Extensions.Configuration;
using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.Hosting;
using Microsoft.Extensions.Logging.Abstractions;
using Orleans.Storage;
using Orleans.TestingHost;

namespace Granary.Tests.Cluster.Infrastructure;

/// <summary>
/// Base of the TestCluster fixtures: one hook (<see cref="Configure"/>) and the same silo wiring
/// production uses (<see cref="GranarySiloBuilderExtensions"/>).
/// </summary>
public abstract class GranaryTestClusterFixture : IAsyncLifetime
{
    private TestCluster? _cluster;

    /// <summary>The running cluster.</summary>
    public TestCluster Cluster => _cluster ?? throw new InvalidOperationException("The cluster has not been deployed.");

    /// <summary>The client's grain factory.</summary>
    public IGrainFactory Grains => Cluster.GrainFactory;

    /// <summary>
    /// The grain factory inside a running silo: its calls are calls between silos (they carry the
    /// cluster proof), for tests that drive a step of a protocol that clients may not call.
    /// </summary>
    public IGrainFactory SiloGrains => Cluster.Silos.OfType<InProcessSiloHandle>().First(s => s.IsActive).SiloHost.Services.GetRequiredService<IGrainFactory>();

    /// <inheritdoc/>
    public virtual async Task InitializeAsync()
    {
        var builder = new TestClusterBuilder(InitialSilos);
        builder.Options.ServiceId = "granary-test";
        builder.Options.ClusterId = "test-" + Guid.NewGuid().ToString("N")[..8];
        builder.Properties["Granary:Security:ClusterSecret"] = ClusterSecrets.New();
        builder.Properties["Granary:Scheduling:DemoHandlers"] = "true"; // the scheduling tests run the demonstration handlers
        builder.AddSiloBuilderConfigurator<GranarySiloConfigurator>();
        builder.AddClientBuilderConfigurator<GranaryClientConfigurator>();
        await ConfigureAsync(builder);
        _cluster = builder.Build();
        await _cluster.DeployAsync();
    }

    /// <inheritdoc/>
    public virtual async Task DisposeAsync()
    {
        if (_cluster is not null)
        {
            await _cluster.StopAllSilosAsync();
            await _cluster.DisposeAsync();
        }
    }

    /// <summary>Silos deployed at start (3 unless a fixture says otherwise).</summary>
    protected virtual short InitialSilos => 3;

    /// <summary>Adds settings (as <c>builder.Properties</c>, which silos see as configuration) and configurators.</summary>
    protected abstract Task ConfigureAsync(TestClusterBuilder builder);
}

/// <summary>Applies Granary's storage and services from the silo's configuration (TestCluster owns clustering and ports).</summary>
public sealed class GranarySiloConfigurator : ISiloConfigurator
{
    /// <inheritdoc/>
    public void Configure(ISiloBuilder siloBuilder)
    {
        ArgumentNullException.ThrowIfNull(siloBuilder);
        siloBuilder.AddGranaryStorage(siloBuilder.Configuration).AddGranaryServices(siloBuilder.Configuration);
        OpenTestHooks(siloBuilder);
    }

    /// <summary>TestCluster's client asks the silos' test hooks (a system target only TestCluster installs) while it deploys.</summary>
    public static void OpenTestHooks(ISiloBuilder siloBuilder)
    {
        ArgumentNullException.ThrowIfNull(siloBuilder);
        siloBuilder.Services.Configure<ClientOpenOrleansCalls>(o => o.Methods["Orleans.Runtime.TestHooks.ITestHooks"] = null);
    }
}

/// <summary>The client side of Granary's limits (message size, typed oversize errors), as production clients have it.</summary>
public sealed class GranaryClientConfigurator : IClientBuilderConfigurator
{
    /// <inheritdoc/>
    public void Configure(IConfiguration configuration, IClientBuilder clientBuilder) => clientBuilder.AddGranaryClientLimits();
}

/// <summary>The client side of <c>Granary:Security:Tls</c> from the cluster's settings (nothing when TLS is off), as production clients have it.</summary>
public sealed class TlsClientConfigurator : IClientBuilderConfigurator
{
    /// <inheritdoc/>
    public void Configure(IConfiguration configuration, IClientBuilder clientBuilder) => clientBuilder.UseGranaryTls(configuration);
}

/// <summary>Three in-process silos with memory storage that talk over TCP sockets, as production does (the default test transport is in memory).</summary>
public sealed class TcpClusterFixture : GranaryTestClusterFixture
{
    /// <inheritdoc/>
    protected override Task ConfigureAsync(TestClusterBuilder builder)
    {
        ArgumentNullException.ThrowIfNull(builder);
        builder.Options.ConnectionTransport = ConnectionTransportType.TcpSocket;
        builder.Properties["Granary:Storage:Mode"] = "Memory";
        return Task.CompletedTask;
    }
}

/// <summary>(a) Three in-process silos with memory storage: fast, for behaviour that needs no crash.</summary>
public sealed class FastClusterFixture : GranaryTestClusterFixture
{
    /// <inheritdoc/>
    protected override Task ConfigureAsync(TestClusterBuilder builder)
    {
        ArgumentNullException.ThrowIfNull(builder);
        builder.Properties["Granary:Storage:Mode"] = "Memory";
        builder.Properties["Granary:Telemetry:StatsInterval"] = "00:00:00.250";
        builder.AddSiloBuilderConfigurator<SharedMemoryCacheShardStoreConfigurator>();
        return Task.CompletedTask;
    }
}

/// <summary>
/// One <see cref="MemoryCacheShardStore"/> for every in-process silo, as one PostgreSQL database is
/// for silo processes: a cache shard reactivated on another silo then reads what the first one
/// wrote (each silo's own memory store would hand it an empty shard). The store is shared by every
/// fast cluster in the test process; their tests name caches uniquely, so they never meet in it.
/// </summary>
public sealed class SharedMemoryCacheShardStoreConfigurator : ISiloConfigurator
{
    private static readonly MemoryCacheShardStore Shared = new();

    /// <inheritdoc/>
    public void Configure(ISiloBuilder siloBuilder)
    {
        ArgumentNullException.ThrowIfNull(siloBuilder);
        siloBuilder.Services.AddSingleton<ICacheShardStore>(Shared);
    }
}

/// <summary>
/// (b) Three in-process silos clustered through a real Redis, grain state on three real PostgreSQL
/// shards. Needs the shared servers; use it from a test class in <see cref="ServersCollection"/>.
/// </summary>
public sealed class RedisPostgresClusterFixture(SharedServersFixture servers) : GranaryTestClusterFixture
{
    /// <summary>Shard count.</summary>
    public const int ShardCount = 3;

    /// <summary>The shard connection strings.</summary>
    public IReadOnlyList<string> Shards { get; private set; } = [];

    /// <summary>Extra silo settings (configuration keys such as <c>Granary:Locks:Durability</c>), set before initialising.</summary>
    public IDictionary<string, string> Settings { get; } = new Dictionary<string, string>(StringComparer.Ordinal);

    /// <summary>Silos to deploy (3 by default), set before initialising.</summary>
    public short Silos { get; init; } = 3;

    /// <inheritdoc/>
    protected override short InitialSilos => Silos;

    /// <summary>The grain storage of shard <paramref name="shard"/> on the first silo (its serializer and hashers, for writers a test builds).</summary>
    public AdoNetGrainStorage ShardStorage(int shard) =>
        (AdoNetGrainStorage)((InProcessSiloHandle)Cluster.Silos[0]).SiloHost.Services.GetRequiredKeyedService<IGrainStorage>(StorageNames.Shard(shard));

    /// <summary>A new database with the shard schema applied, that nothing else touches; returns its connection string.</summary>
    public async Task<string> NewShardDatabaseAsync(string prefix)
    {
        var database = prefix + "_" + Guid.NewGuid().ToString("N")[..12];
        await servers.Postgres.CreateDatabaseAsync(database);
        var connectionString = servers.Postgres.ConnectionString(database);
        await PostgresShardInitializer.EnsureShardsAsync([connectionString], createDatabases: false, NullLogger.Instance, CancellationToken.None);
        return connectionString;
    }

    /// <inheritdoc/>
    protected override Task ConfigureAsync(TestClusterBuilder builder)
    {
        Shards = UseRedisAndPostgresShards(builder, servers);
        foreach (var (key, value) in Settings)
        {
            builder.Properties[key] = value;
        }

        return Task.CompletedTask;
    }

    /// <summary>
    /// Clusters the TestCluster's silos and client through <paramref name="servers"/>' Redis and gives
    /// them <see cref="ShardCount"/> fresh PostgreSQL shard databases; returns the shard connection strings.
    /// </summary>
    internal static IReadOnlyList<string> UseRedisAndPostgresShards(TestClusterBuilder builder, SharedServersFixture servers)
    {
        ArgumentNullException.ThrowIfNull(builder);
        var prefix = "tc" + Guid.NewGuid().ToString("N")[..8];
        var shards = Enumerable.Range(0, ShardCount).Select(i => servers.Postgres.ConnectionString($"{prefix}_shard_{i}")).ToList();
        builder.Options.UseTestClusterMembership = false;
        builder.Properties["Granary:Storage:Mode"] = "PostgresShards";
        for (var i = 0; i < shards.Count; i++)
        {
            builder.Properties[$"Granary:Storage:Shards:{i}"] = shards[i];
        }

        builder.Properties["Granary:Cluster:RedisConnectionString"] = servers.Redis.ConnectionString;
        builder.AddSiloBuilderConfigurator<RedisClusteringConfigurator>();
        builder.AddClientBuilderConfigurator<RedisClusteringConfigurator>();
        return shards;
    }
}

/// <summary>Redis membership for TestCluster silos and its client.</summary>
public sealed class RedisClusteringConfigurator : ISiloConfigurator, IClientBuilderConfigurator
{
    /// <inheritdoc/>
    public void Configure(ISiloBuilder siloBuilder)
    {
        ArgumentNullException.ThrowIfNull(siloBuilder);
        var redis = siloBuilder.Configuration["Granary:Cluster:RedisConnectionString"]!;
        siloBuilder.UseRedisClustering(o => o.ConfigurationOptions = RedisConfiguration.Parse(redis));
    }

    /// <inheritdoc/>
    public void Configure(IConfiguration configuration, IClientBuilder clientBuilder)
    {
        ArgumentNullException.ThrowIfNull(configuration);
        ArgumentNullException.ThrowIfNull(clientBuilder);
        var redis = configuration["Granary:Cluster:RedisConnectionString"]!;
        clientBuilder.UseRedisClustering(o => o.ConfigurationOptions = RedisConfiguration.Parse(redis));
    }
}
