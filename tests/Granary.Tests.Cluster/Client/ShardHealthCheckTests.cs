using System.Diagnostics;
using Granary.Client.DependencyInjection;
using Granary.Client.Diagnostics;
using Granary.Tests.Cluster.Infrastructure;
using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.Diagnostics.HealthChecks;
using Orleans.TestingHost;
using Xunit.Abstractions;

namespace Granary.Tests.Cluster.Client;

/// <summary>
/// The <c>granary-shards</c> health check reaches every storage shard each time it runs: a shard
/// whose PostgreSQL server dies after the cluster started is reported (by name) within the check's
/// bound, and the check is healthy again once the server is back.
/// </summary>
public sealed class ShardHealthCheckTests(TwoServerShardsFixture fixture, ITestOutputHelper output) : IClassFixture<TwoServerShardsFixture>
{
    private static readonly TimeSpan CallTimeout = TimeSpan.FromSeconds(2);

    [Fact]
    public async Task A_shard_whose_server_dies_is_named_unhealthy_within_the_bound_and_healthy_again_after_its_restart()
    {
        await using var services = HealthChecks();
        var health = services.GetRequiredService<HealthCheckService>();
        var before = await CheckAsync(health);
        Assert.True(before.Status == HealthStatus.Healthy, before.Description);

        await fixture.Second.CrashAsync();
        var clock = Stopwatch.StartNew();
        var down = await CheckAsync(health);
        output.WriteLine($"with shard-1 down after {clock.Elapsed.TotalMilliseconds:0} ms: {down.Status} {down.Description}");
        Assert.Equal(HealthStatus.Unhealthy, down.Status);
        Assert.Contains("shard-1", down.Description, StringComparison.Ordinal);
        Assert.DoesNotContain("shard-0", down.Description, StringComparison.Ordinal);
        Assert.True(clock.Elapsed < CallTimeout + TimeSpan.FromSeconds(2), $"the check took {clock.Elapsed}");

        await fixture.Second.RestartAsync();
        var after = await Eventually.ValueAsync("the shards check is healthy again", () => CheckAsync(health), r => r.Status == HealthStatus.Healthy, TimeSpan.FromSeconds(20));
        output.WriteLine($"after the restart: {after.Description}");
        Assert.Contains("2 of 2", after.Description, StringComparison.Ordinal);
    }

    private static async Task<HealthReportEntry> CheckAsync(HealthCheckService health) =>
        (await health.CheckHealthAsync(r => r.Name == GranaryHealthChecks.Shards)).Entries[GranaryHealthChecks.Shards];

    private ServiceProvider HealthChecks()
    {
        var services = new ServiceCollection();
        services.AddLogging();
        services.AddSingleton<IClusterClient>(fixture.Cluster.Client);
        services.AddOptions<GranaryClientOptions>().Configure(o => o.CallTimeout = CallTimeout);
        services.AddHealthChecks().AddGranaryHealthChecks();
        return services.BuildServiceProvider();
    }
}

/// <summary>One in-process silo whose grain state lives on two PostgreSQL shards, each on a server of its own (so one can die alone).</summary>
public sealed class TwoServerShardsFixture : GranaryTestClusterFixture
{
    private PostgresServer? _first;
    private PostgresServer? _second;

    /// <summary>The server of shard-1.</summary>
    public PostgresServer Second => _second ?? throw new InvalidOperationException("not started");

    /// <inheritdoc/>
    public override async Task InitializeAsync()
    {
        _first = await PostgresServer.StartAsync(durable: false);
        _second = await PostgresServer.StartAsync(durable: false);
        await base.InitializeAsync();
    }

    /// <inheritdoc/>
    public override async Task DisposeAsync()
    {
        try
        {
            await base.DisposeAsync();
        }
        finally
        {
            if (_first is not null)
            {
                await _first.DisposeAsync();
            }

            if (_second is not null)
            {
                await _second.DisposeAsync();
            }
        }
    }

    /// <inheritdoc/>
    protected override short InitialSilos => 1;

    /// <inheritdoc/>
    protected override Task ConfigureAsync(TestClusterBuilder builder)
    {
        ArgumentNullException.ThrowIfNull(builder);
        builder.Properties["Granary:Storage:Mode"] = "PostgresShards";
        builder.Properties["Granary:Storage:Shards:0"] = _first!.ConnectionString("health_shard_0");
        builder.Properties["Granary:Storage:Shards:1"] = _second!.ConnectionString("health_shard_1");
        return Task.CompletedTask;
    }
}
