using Granary.Tests.Cluster.Infrastructure;

namespace Granary.Tests.Cluster.Faults;

/// <summary>
/// One cluster for the PostgreSQL fault tests: a private Redis, a private PostgreSQL server of its
/// own with <c>fsync=on</c> (so a crash of the server loses nothing it acknowledged), two shard
/// databases on it, and two real silo processes with a short storage retry budget. The tests of the class run one after another
/// and each uses its own names, so they share the cluster (starting it costs more than a test).
/// </summary>
public sealed class PostgresFaultFixture : IAsyncLifetime
{
    /// <summary>Shard databases on the server.</summary>
    public static readonly IReadOnlyList<string> Databases = ["faults_shard_0", "faults_shard_1"];

    private RedisServer? _redis;
    private PostgresServer? _postgres;
    private ProcessCluster? _cluster;

    /// <summary>The durable PostgreSQL server the tests terminate backends of and crash.</summary>
    public PostgresServer Postgres => _postgres ?? throw new InvalidOperationException("Not started.");

    /// <summary>The silos and the client.</summary>
    public ProcessCluster Cluster => _cluster ?? throw new InvalidOperationException("Not started.");

    /// <inheritdoc/>
    public async Task InitializeAsync()
    {
        var redis = RedisServer.StartAsync();
        var postgres = PostgresServer.StartAsync(durable: true);
        try
        {
            await Task.WhenAll(redis, postgres);
        }
        finally
        {
            _redis = redis.IsCompletedSuccessfully ? redis.Result : null;
            _postgres = postgres.IsCompletedSuccessfully ? postgres.Result : null;
        }

        _cluster = await ProcessCluster.StartAsync(new ProcessClusterOptions
        {
            RedisConnectionString = _redis!.ConnectionString,
            Shards = [.. Databases.Select(_postgres!.ConnectionString)],
            Silos = 2,
            Settings = new Dictionary<string, string>
            {
                ["Granary__Transactions__PrepareTimeout"] = "00:00:03",
                ["Granary__Transactions__PreparedTimeout"] = "00:00:04",
                ["Granary__Transactions__InquiryInterval"] = "00:00:01",
                ["Granary__Transactions__CallTimeout"] = "00:00:05",
                ["Granary__Transactions__PhaseTwoBudget"] = "00:00:08",
                ["Granary__Transactions__RetryMax"] = "00:00:01",
                ["Granary__Transactions__RecoveryScanInterval"] = "00:00:02",
                ["Granary__Transactions__OutcomeRetention"] = "01:00:00",
                ["Granary__Transactions__MaxRememberedOutcomes"] = "100000",
                ["Granary__Scheduling__WorkerCapacity"] = "8",
                ["Granary__Scheduling__LeaseTimeout"] = "00:00:08",
                ["Granary__Scheduling__KeeperInterval"] = "00:00:01",
                ["Logging__LogLevel__Granary"] = "Warning",

                // Fewer storage retries than the default (about 0.35 s instead of 4.5 s), so that
                // the crash outlasts them and errors do reach clients: the invariants are checked
                // with callers retrying calls whose outcome they do not know.
                ["Granary__Storage__Retry__MaxRetries"] = "3",
                ["Granary__Storage__Retry__MaxDelay"] = "00:00:00.200",
            },
        });
    }

    /// <inheritdoc/>
    public async Task DisposeAsync()
    {
        if (_cluster is not null)
        {
            await _cluster.DisposeAsync();
        }

        if (_postgres is not null)
        {
            await _postgres.DisposeAsync();
        }

        if (_redis is not null)
        {
            await _redis.DisposeAsync();
        }
    }
}
