using System.Net;
using Granary.Client;
using Granary.Client.Configuration;
using Granary.Client.Diagnostics;
using Granary.Diagnostics;
using Granary.Server.Caching;
using Granary.Server.Configuration;
using Granary.Server.Diagnostics;
using Granary.Server.Locks;
using Granary.Server.Memcached;
using Granary.Server.Options;
using Granary.Server.Queues;
using Granary.Server.Resp;
using Granary.Server.Scheduling;
using Granary.Server.Security;
using Granary.Server.Storage;
using Granary.Server.Telemetry;
using Granary.Server.Transactions;
using Microsoft.Extensions.Configuration;
using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.DependencyInjection.Extensions;
using Microsoft.Extensions.Hosting;
using Microsoft.Extensions.Logging;
using Microsoft.Extensions.Options;
using Orleans.Configuration;
using Orleans.Hosting;
using Orleans.Runtime.Hosting;
using Orleans.Serialization;
using Orleans.Storage;
using StackExchange.Redis;

namespace Granary.Server;

/// <summary>
/// The one place a silo is wired: the silo process, the console's embedded mode and the tests all
/// call these, so tests run the configuration production runs.
/// </summary>
/// <example><code>
/// builder.UseOrleans(silo => silo.AddGranary(builder.Configuration));
/// </code></example>
public static class GranarySiloBuilderExtensions
{
    /// <summary>Clustering, endpoints, membership timings, storage and grain services from configuration.</summary>
    public static ISiloBuilder AddGranary(this ISiloBuilder silo, IConfiguration configuration)
    {
        ArgumentNullException.ThrowIfNull(silo);
        ArgumentNullException.ThrowIfNull(configuration);
        if (!silo.Services.AddOnce(nameof(AddGranary)))
        {
            return silo;
        }

        silo.UseGranaryClustering(configuration).AddGranaryStorage(configuration).AddGranaryServices(configuration);
        silo.Services.AddSingleton<ILifecycleParticipant<ISiloLifecycle>, Diagnostics.SiloStartupReporter>();
        return silo;
    }

    /// <summary>Cluster identity, clustering provider, endpoints and membership timings.</summary>
    public static ISiloBuilder UseGranaryClustering(this ISiloBuilder silo, IConfiguration configuration)
    {
        ArgumentNullException.ThrowIfNull(silo);
        ArgumentNullException.ThrowIfNull(configuration);
        if (!silo.Services.AddOnce(nameof(UseGranaryClustering)))
        {
            return silo;
        }

        var options = ValidatedOptions.Bind<GranaryClusterOptions, GranaryClusterOptionsValidator>(silo.Services, configuration, GranaryClusterOptions.SectionName);
        silo.Services.Configure<ClusterOptions>(configuration.GetSection("Orleans"));
        var address = IPAddress.Parse(options.AdvertisedAddress);
        switch (options.Mode)
        {
            case ClusteringMode.Redis:
                silo.UseRedisClustering(redis => redis.ConfigurationOptions = RedisConfiguration.Parse(options.RedisConnectionString, RedisSecrets.RedisCaCertificate(configuration)));
                silo.ConfigureEndpoints(address, options.SiloPort, options.GatewayPort, listenOnAnyHostAddress: false);
                break;
            default:
                silo.UseLocalhostClustering(options.SiloPort, options.GatewayPort, new IPEndPoint(IPAddress.Loopback, options.PrimarySiloPort));
                break;
        }

        silo.Services.Configure<ClusterMembershipOptions>(m => ApplyMembershipProfile(m, options));
        return silo;
    }

    /// <summary>
    /// Registers the <see cref="StorageNames.Default"/> grain storage: PostgreSQL shards routed by the ring,
    /// or memory. Shard databases are created and the schema applied at start-up.
    /// </summary>
    public static ISiloBuilder AddGranaryStorage(this ISiloBuilder silo, IConfiguration configuration)
    {
        ArgumentNullException.ThrowIfNull(silo);
        ArgumentNullException.ThrowIfNull(configuration);
        if (!silo.Services.AddOnce(nameof(AddGranaryStorage)))
        {
            return silo;
        }

        var options = ValidatedOptions.Bind<GranaryStorageOptions, GranaryStorageOptionsValidator>(silo.Services, configuration, GranaryStorageOptions.SectionName);
        silo.Services.TryAddSingleton(sp => new StorageRetryPolicy(options.Retry, sp.GetRequiredService<ILoggerFactory>().CreateLogger<StorageRetryPolicy>(), sp.GetService<TimeProvider>()));
        silo.Services.AddSingleton<IPersistentStateFactory, GranaryPersistentStateFactory>();
        if (options.Mode == StorageMode.Memory)
        {
            silo.AddMemoryGrainStorage(StorageNames.Default);
            return silo;
        }

        for (var i = 0; i < options.Shards.Length; i++)
        {
            var connectionString = options.Shards[i];
            silo.AddAdoNetGrainStorage(StorageNames.Shard(i), builder => builder.Configure<Serializer, IGrainStorageSerializer>((ado, binary, json) =>
            {
                ado.Invariant = "Npgsql";
                ado.ConnectionString = connectionString;
                ado.GrainStorageSerializer = new GrainStateFormat(binary, json);
            }));
        }

        silo.Services.AddSingleton<ILifecycleParticipant<ISiloLifecycle>, PostgresShardInitializer>();
        silo.Services.AddSingleton<IStorageShardProbe>(_ => new PostgresShardProbe(options.Shards));
        if (options.GroupCommit)
        {
            silo.Services.AddSingleton(sp => new GroupCommitWriters(options, sp.GetRequiredService<IOptions<ClusterOptions>>().Value.ServiceId));
        }

        var shardCount = options.Shards.Length;
        var vnodes = options.VirtualNodesPerShard;
        silo.Services.AddGrainStorage(StorageNames.Default, (sp, _) =>
        {
            var shards = Enumerable.Range(0, shardCount)
                .ToDictionary(StorageNames.Shard, i => sp.GetRequiredKeyedService<IGrainStorage>(StorageNames.Shard(i)), StringComparer.Ordinal);
            var writers = options.GroupCommit ? sp.GetRequiredService<GroupCommitWriters>().For(shards) : null;
            return new ShardedGrainStorage(new ShardRouter(shardCount, vnodes), shards, writers, sp.GetRequiredService<StorageRetryPolicy>(), options.Shards);
        });
        return silo;
    }

    /// <summary>Grain-side services (families register theirs here as they are added).</summary>
    public static ISiloBuilder AddGranaryServices(this ISiloBuilder silo, IConfiguration configuration)
    {
        ArgumentNullException.ThrowIfNull(silo);
        ArgumentNullException.ThrowIfNull(configuration);
        if (!silo.Services.AddOnce(nameof(AddGranaryServices)))
        {
            return silo;
        }

        // A host (or a test with a fake clock) may register its own clock first.
        silo.Services.TryAddSingleton(TimeProvider.System);
        silo.Services.Configure<SiloMessagingOptions>(MessageSizeLimit.Apply);
        CachedGrainInterfaceTypes.Register(silo.Services);

        // First, so that it is the outermost filter: the others (metrics) see the original exception.
        silo.AddIncomingGrainCallFilter<WireErrorFilter>();
        silo.AddIncomingGrainCallFilter<GrainKeyFilter>();
        silo.AddGranarySecurity(configuration);

        silo.AddGranaryActivationCollection(configuration);
        silo.AddGranaryReminders(configuration);
        silo.AddGranaryTelemetry(configuration);
        silo.AddGranaryLocks(configuration);
        silo.AddGranaryCaching(configuration);
        silo.AddGranaryQueues(configuration);
        silo.AddGranaryTransactions(configuration);
        silo.AddGranaryScheduling(configuration);
        silo.AddGranaryResp(configuration);
        silo.AddGranaryMemcached(configuration);
        return silo;
    }

    /// <summary>Longest idle time of a task record's activation (shorter when <see cref="GranaryClusterOptions.CollectionAge"/> is).</summary>
    public static readonly TimeSpan TaskCollectionAge = TimeSpan.FromMinutes(10);

    /// <summary>
    /// Idle activations: <see cref="GranaryClusterOptions.CollectionAge"/> for every grain type without
    /// its own limit, and task records after <see cref="TaskCollectionAge"/> or that age, whichever is
    /// shorter (there is one per task, so they go sooner than Orleans' default). Configured here rather
    /// than by attributes so that a short age for tests reaches every type. Also bounds the grain
    /// locations each silo caches (<see cref="GranaryClusterOptions.DirectoryCacheSize"/>), which
    /// otherwise grow with the names a silo has seen.
    /// </summary>
    public static ISiloBuilder AddGranaryActivationCollection(this ISiloBuilder silo, IConfiguration configuration)
    {
        ArgumentNullException.ThrowIfNull(silo);
        ArgumentNullException.ThrowIfNull(configuration);
        if (!silo.Services.AddOnce(nameof(AddGranaryActivationCollection)))
        {
            return silo;
        }

        var options = ValidatedOptions.Read<GranaryClusterOptions, GranaryClusterOptionsValidator>(configuration, GranaryClusterOptions.SectionName);
        silo.Services.Configure<GrainCollectionOptions>(collection =>
        {
            if (options.CollectionAge is { } age)
            {
                collection.CollectionAge = age;

                // Orleans collects in rounds of this period and requires the age to exceed it.
                var quarter = age / 4;
                collection.CollectionQuantum = quarter < collection.CollectionQuantum ? quarter : collection.CollectionQuantum;
            }

            var task = collection.CollectionAge < TaskCollectionAge ? collection.CollectionAge : TaskCollectionAge;
            collection.ClassSpecificCollectionAge[typeof(Granary.Scheduling.TaskGrain).FullName!] = task;
        });
        silo.Services.Configure<GrainDirectoryOptions>(directory => directory.CacheSize = options.DirectoryCacheSize);
        return silo;
    }

    /// <summary>Shortest reminder period under <see cref="MembershipProfile.FastFailover"/> when <see cref="GranaryClusterOptions.MinimumReminderPeriod"/> is unset.</summary>
    public static readonly TimeSpan FastFailoverReminderPeriod = TimeSpan.FromSeconds(5);

    /// <summary>
    /// The reminder service, which re-activates grains that own periodic work on a surviving silo
    /// after the silo hosting them dies: kept in Redis when <c>Granary:Cluster:Mode</c> is Redis (the
    /// membership connection string), in silo memory otherwise (one machine, embedded mode, tests),
    /// with <see cref="GranaryClusterOptions.MinimumReminderPeriod"/> as the shortest period.
    /// </summary>
    public static ISiloBuilder AddGranaryReminders(this ISiloBuilder silo, IConfiguration configuration)
    {
        ArgumentNullException.ThrowIfNull(silo);
        ArgumentNullException.ThrowIfNull(configuration);
        if (!silo.Services.AddOnce(nameof(AddGranaryReminders)))
        {
            return silo;
        }

        var options = ValidatedOptions.Read<GranaryClusterOptions, GranaryClusterOptionsValidator>(configuration, GranaryClusterOptions.SectionName);
        if (options.Mode == ClusteringMode.Redis)
        {
            silo.UseRedisReminderService(redis => redis.ConfigurationOptions = RedisConfiguration.Parse(options.RedisConnectionString, RedisSecrets.RedisCaCertificate(configuration)));
        }
        else
        {
            silo.UseInMemoryReminderService();
        }

        var period = options.MinimumReminderPeriod ?? (options.MembershipProfile == MembershipProfile.FastFailover ? FastFailoverReminderPeriod : null);
        if (period is { } p)
        {
            silo.Services.Configure<ReminderOptions>(reminders => reminders.MinimumReminderPeriod = p);
        }

        return silo;
    }

    /// <summary>Applies the named membership profile, then any individual overrides.</summary>
    public static void ApplyMembershipProfile(ClusterMembershipOptions membership, GranaryClusterOptions options)
    {
        ArgumentNullException.ThrowIfNull(membership);
        ArgumentNullException.ThrowIfNull(options);
        if (options.MembershipProfile == MembershipProfile.FastFailover)
        {
            membership.ProbeTimeout = TimeSpan.FromSeconds(1);
            membership.NumMissedProbesLimit = 2;
            membership.NumVotesForDeathDeclaration = 1;
            membership.TableRefreshTimeout = TimeSpan.FromSeconds(2);
            membership.IAmAliveTablePublishTimeout = TimeSpan.FromSeconds(5);
            membership.DeathVoteExpirationTimeout = TimeSpan.FromSeconds(10);
        }

        if (options.ProbeTimeout is { } probe)
        {
            membership.ProbeTimeout = probe;
        }

        if (options.NumMissedProbesLimit is { } missed)
        {
            membership.NumMissedProbesLimit = missed;
        }

        if (options.NumVotesForDeathDeclaration is { } votes)
        {
            membership.NumVotesForDeathDeclaration = votes;
        }

        if (options.TableRefreshTimeout is { } refresh)
        {
            membership.TableRefreshTimeout = refresh;
        }
    }
}
