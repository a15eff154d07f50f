namespace Granary.Client.Configuration;

/// <summary>How silos find each other and clients find silos.</summary>
public enum ClusteringMode
{
    /// <summary>One machine, no external services: a primary silo at <see cref="GranaryClusterOptions.PrimarySiloPort"/> holds the membership table.</summary>
    Localhost,

    /// <summary>Membership in Redis (<see cref="GranaryClusterOptions.RedisConnectionString"/>); any number of silos on any number of machines.</summary>
    Redis,
}

/// <summary>Named sets of membership timings.</summary>
public enum MembershipProfile
{
    /// <summary>Orleans' defaults: a crashed silo is declared dead after roughly 10-15 s. For production.</summary>
    Default,

    /// <summary>
    /// Aggressive timings for local runs and tests: a crashed silo is declared dead in about 2 s.
    /// Too eager for production networks (a long GC pause can get a healthy silo evicted).
    /// </summary>
    FastFailover,
}

/// <summary>Section <c>Granary:Cluster</c>: clustering, endpoints and failure detection.</summary>
public sealed class GranaryClusterOptions
{
    /// <summary>The configuration section bound to this class.</summary>
    public const string SectionName = "Granary:Cluster";

    /// <summary>Clustering provider. Default <see cref="ClusteringMode.Localhost"/>.</summary>
    public ClusteringMode Mode { get; set; } = ClusteringMode.Localhost;

    /// <summary>StackExchange.Redis configuration string used when <see cref="Mode"/> is Redis. Default <c>127.0.0.1:6379</c>.</summary>
    public string RedisConnectionString { get; set; } = "127.0.0.1:6379";

    /// <summary>Membership timings. Default <see cref="MembershipProfile.Default"/>.</summary>
    public MembershipProfile MembershipProfile { get; set; } = MembershipProfile.Default;

    /// <summary>Silo-to-silo port. Default 11111. Each silo on one machine needs its own.</summary>
    public int SiloPort { get; set; } = 11111;

    /// <summary>Client gateway port. Default 30000. Each silo on one machine needs its own; 0 disables the gateway.</summary>
    public int GatewayPort { get; set; } = 30000;

    /// <summary>The address other silos and clients use to reach this silo. Default <c>127.0.0.1</c>.</summary>
    public string AdvertisedAddress { get; set; } = "127.0.0.1";

    /// <summary>Localhost mode only: the silo port of the primary silo. Default 11111.</summary>
    public int PrimarySiloPort { get; set; } = 11111;

    /// <summary>Localhost mode only: the gateway ports a client tries. Default: <see cref="GatewayPort"/>.</summary>
    public int[] ClientGatewayPorts { get; set; } = [];

    /// <summary>Optional override of the probe timeout (e.g. <c>00:00:01</c>).</summary>
    public TimeSpan? ProbeTimeout { get; set; }

    /// <summary>Optional override of the missed probes before a silo is suspected.</summary>
    public int? NumMissedProbesLimit { get; set; }

    /// <summary>Optional override of the votes needed to declare a silo dead.</summary>
    public int? NumVotesForDeathDeclaration { get; set; }

    /// <summary>Optional override of how often the membership table is re-read.</summary>
    public TimeSpan? TableRefreshTimeout { get; set; }

    /// <summary>
    /// Shortest period a reminder may have (Orleans' <c>ReminderOptions.MinimumReminderPeriod</c>).
    /// Reminders re-activate the grains that own periodic work (the transaction recovery buckets) on
    /// a surviving silo after the silo hosting them dies, so this bounds how long such work waits
    /// after a silo is declared dead. Unset: 1 minute (Orleans' default), or 5 seconds with the
    /// <see cref="MembershipProfile.FastFailover"/> profile. Between 1 second and 1 hour. Reminders
    /// are kept in Redis when <see cref="Mode"/> is Redis (same <see cref="RedisConnectionString"/>),
    /// in silo memory otherwise.
    /// </summary>
    public TimeSpan? MinimumReminderPeriod { get; set; }

    /// <summary>
    /// How long an activation may stay idle before the silo collects it (its state is reloaded from
    /// storage by the next call). Unset: Orleans' default (15 minutes); task records are collected
    /// after 10 minutes or this, whichever is shorter, and cache shards never. Short values keep the
    /// activations of many short-lived names (locks, sagas, tasks) few, at the cost of reloading
    /// the ones that come back; tests use seconds. Between 1 second and 1 day.
    /// </summary>
    public TimeSpan? CollectionAge { get; set; }

    /// <summary>
    /// Most grain locations each silo caches (Orleans' <c>GrainDirectoryOptions.CacheSize</c>). Every
    /// grain a silo calls or hosts leaves an entry of about 200 bytes for up to four minutes, so with
    /// names that churn (locks, sagas, tasks) the cache fills to its bound: Orleans' default of
    /// 1,000,000 entries is about 200 MB per silo and preallocates its table. Default
    /// <see cref="DefaultDirectoryCacheSize"/> (about 20 MB when full); a miss costs one directory
    /// lookup. Between 1,000 and 10,000,000.
    /// </summary>
    public int DirectoryCacheSize { get; set; } = DefaultDirectoryCacheSize;

    /// <summary>The default of <see cref="DirectoryCacheSize"/>.</summary>
    public const int DefaultDirectoryCacheSize = 100_000;
}
