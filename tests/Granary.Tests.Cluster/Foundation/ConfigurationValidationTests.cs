using Granary.Client.Configuration;
using Granary.Queues;
using Granary.Server;
using Granary.Server.Options;
using Granary.Server.Queues;
using Microsoft.Extensions.Configuration;
using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.Options;
using Orleans.Hosting;

namespace Granary.Tests.Cluster.Foundation;

/// <summary>Bad configuration stops start-up with a message naming the key.</summary>
public sealed class ConfigurationValidationTests
{
    [Fact]
    public void Redis_mode_needs_a_connection_string()
    {
        var result = new GranaryClusterOptionsValidator().Validate(null, new GranaryClusterOptions { Mode = ClusteringMode.Redis, RedisConnectionString = " " });

        Assert.True(result.Failed);
        Assert.Contains("Granary:Cluster:RedisConnectionString", result.FailureMessage, StringComparison.Ordinal);
    }

    [Fact]
    public void Silo_and_gateway_ports_must_differ_and_be_valid()
    {
        var result = new GranaryClusterOptionsValidator().Validate(null, new GranaryClusterOptions { SiloPort = 30000, GatewayPort = 30000, PrimarySiloPort = 70000 });

        Assert.True(result.Failed);
        Assert.Contains("must differ", result.FailureMessage, StringComparison.Ordinal);
        Assert.Contains("PrimarySiloPort 70000", result.FailureMessage, StringComparison.Ordinal);
    }

    [Fact]
    public void Postgres_shards_mode_needs_valid_shards()
    {
        var none = new GranaryStorageOptionsValidator().Validate(null, new GranaryStorageOptions { Mode = StorageMode.PostgresShards });
        var noDatabase = new GranaryStorageOptionsValidator().Validate(null, new GranaryStorageOptions { Mode = StorageMode.PostgresShards, Shards = ["Host=127.0.0.1"] });

        Assert.Contains("Granary:Storage:Shards must list", none.FailureMessage, StringComparison.Ordinal);
        Assert.Contains("Shards[0] names no Database", noDatabase.FailureMessage, StringComparison.Ordinal);
    }

    [Fact]
    public void Storage_retry_must_be_bounded()
    {
        var many = new GranaryStorageOptionsValidator().Validate(null, new GranaryStorageOptions { Retry = new StorageRetryOptions { MaxRetries = 21 } });
        var inverted = new GranaryStorageOptionsValidator().Validate(null, new GranaryStorageOptions { Retry = new StorageRetryOptions { BaseDelay = TimeSpan.FromSeconds(2), MaxDelay = TimeSpan.FromSeconds(1) } });
        var off = new GranaryStorageOptionsValidator().Validate(null, new GranaryStorageOptions { Retry = new StorageRetryOptions { MaxRetries = 0 } });

        Assert.Contains("Granary:Storage:Retry:MaxRetries must be between 0 and 20", many.FailureMessage, StringComparison.Ordinal);
        Assert.Contains("Granary:Storage:Retry:MaxDelay must be at least BaseDelay", inverted.FailureMessage, StringComparison.Ordinal);
        Assert.True(off.Succeeded);
    }

    [Fact]
    public void Queue_store_transactions_per_shard_must_be_between_1_and_16()
    {
        var zero = new QueueOptionsValidator().Validate(null, new QueueOptions { StoreTransactionsPerShard = 0 });
        var many = new QueueOptionsValidator().Validate(null, new QueueOptions { StoreTransactionsPerShard = 17 });
        var sixteen = new QueueOptionsValidator().Validate(null, new QueueOptions { StoreTransactionsPerShard = 16 });

        Assert.Contains("Granary:Queues:StoreTransactionsPerShard must be between 1 and 16", zero.FailureMessage, StringComparison.Ordinal);
        Assert.True(many.Failed);
        Assert.True(sixteen.Succeeded);
    }

    [Fact]
    public void Queue_depth_and_memory_window_must_be_bounded()
    {
        var validator = new QueueOptionsValidator();
        var ceiling = validator.Validate(null, new QueueOptions { MaxDepthCeiling = Limits.Queues.MaxDepth + 1 });
        var overCeiling = validator.Validate(null, new QueueOptions { MaxDepthCeiling = 100, DefaultMaxDepth = 101 });
        var window = validator.Validate(null, new QueueOptions { MemoryWindow = 0 });
        var fits = validator.Validate(null, new QueueOptions { MaxDepthCeiling = 100, DefaultMaxDepth = 100, MemoryWindow = Limits.Queues.MaxMemoryWindow });

        Assert.Contains("Granary:Queues:MaxDepthCeiling must be between 1 and", ceiling.FailureMessage, StringComparison.Ordinal);
        Assert.Contains("Granary:Queues:DefaultMaxDepth must be between 1 and MaxDepthCeiling (100)", overCeiling.FailureMessage, StringComparison.Ordinal);
        Assert.Contains("Granary:Queues:MemoryWindow must be between 1 and", window.FailureMessage, StringComparison.Ordinal);
        Assert.True(fits.Succeeded);
    }

    [Fact]
    public void Defaults_are_valid()
    {
        Assert.True(new GranaryClusterOptionsValidator().Validate(null, new GranaryClusterOptions()).Succeeded);
        Assert.True(new GranaryStorageOptionsValidator().Validate(null, new GranaryStorageOptions()).Succeeded);
        Assert.True(new QueueOptionsValidator().Validate(null, new QueueOptions()).Succeeded);
    }

    [Fact]
    public void An_unknown_enum_value_fails_when_the_silo_is_configured()
    {
        var configuration = new ConfigurationBuilder()
            .AddInMemoryCollection(new Dictionary<string, string?> { ["Granary:Cluster:Mode"] = "Bogus" })
            .Build();
        var silo = new TestSiloBuilder();

        var error = Assert.Throws<OptionsValidationException>(() => silo.UseGranaryClustering(configuration));

        Assert.Contains("Granary:Cluster:Mode", error.Message, StringComparison.Ordinal);
    }

    [Theory]
    [InlineData(999)]
    [InlineData(10_000_001)]
    public void The_directory_cache_size_must_be_bounded(int size)
    {
        var result = new GranaryClusterOptionsValidator().Validate(null, new GranaryClusterOptions { DirectoryCacheSize = size });

        Assert.True(result.Failed);
        Assert.Contains("Granary:Cluster:DirectoryCacheSize", result.FailureMessage, StringComparison.Ordinal);
    }

    [Theory]
    [InlineData(null, GranaryClusterOptions.DefaultDirectoryCacheSize)]
    [InlineData("5000", 5000)]
    public void The_directory_cache_size_reaches_orleans(string? configured, int expected)
    {
        var settings = new Dictionary<string, string?>();
        if (configured is not null)
        {
            settings["Granary:Cluster:DirectoryCacheSize"] = configured;
        }

        var silo = new TestSiloBuilder();
        silo.AddGranaryActivationCollection(new ConfigurationBuilder().AddInMemoryCollection(settings).Build());
        using var services = silo.Services.BuildServiceProvider();

        Assert.Equal(expected, services.GetRequiredService<IOptions<Orleans.Configuration.GrainDirectoryOptions>>().Value.CacheSize);
        Assert.NotEqual(new Orleans.Configuration.GrainDirectoryOptions().CacheSize, expected);
    }

    [Theory]
    [InlineData("00:09:59", "00:10:00", "DecisionRetention")]
    [InlineData("3651.00:00:00", "00:10:00", "DecisionRetention")]
    [InlineData("1.00:00:00", "00:00:00.500", "DecisionSweepInterval")]
    [InlineData("1.00:00:00", "1.00:00:01", "DecisionSweepInterval")]
    public void Decision_retention_and_sweep_interval_must_be_bounded(string retention, string interval, string field)
    {
        var options = new Granary.Transactions.TransactionOptions
        {
            DecisionRetention = TimeSpan.Parse(retention, System.Globalization.CultureInfo.InvariantCulture),
            DecisionSweepInterval = TimeSpan.Parse(interval, System.Globalization.CultureInfo.InvariantCulture),
        };

        var result = new Granary.Server.Transactions.TransactionOptionsValidator().Validate(null, options);

        Assert.True(result.Failed);
        Assert.Contains("Granary:Transactions:" + field, result.FailureMessage, StringComparison.Ordinal);
        Assert.True(new Granary.Server.Transactions.TransactionOptionsValidator().Validate(null, new Granary.Transactions.TransactionOptions()).Succeeded);
    }

    [Fact]
    public void Clock_skew_must_stay_well_inside_the_time_a_coordinator_trusts_its_record()
    {
        var result = new Granary.Server.Transactions.TransactionOptionsValidator().Validate(null, new Granary.Transactions.TransactionOptions { MaxClockSkew = TimeSpan.FromMinutes(2) });

        Assert.True(result.Failed);
        Assert.Contains("Granary:Transactions:MaxClockSkew must be between 0 and 00:01:00", result.FailureMessage, StringComparison.Ordinal);
    }

    private sealed class TestSiloBuilder : ISiloBuilder
    {
        public IServiceCollection Services { get; } = new ServiceCollection();

        public IConfiguration Configuration { get; } = new ConfigurationBuilder().Build();
    }
}
