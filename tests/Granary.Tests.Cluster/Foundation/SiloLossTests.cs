using System.Diagnostics;
using Granary.Documents;
using Granary.Tests.Cluster.Infrastructure;
using Xunit.Abstractions;

namespace Granary.Tests.Cluster.Foundation;

/// <summary>TestCluster with silo processes: a SIGKILL loses nothing that was acknowledged.</summary>
[Collection(ServersCollection.Name)]
public sealed class SiloLossTests(SharedServersFixture servers, ITestOutputHelper output)
{
    private static readonly TimeSpan RecoveryBound = TimeSpan.FromSeconds(15);

    [Fact]
    public async Task Grain_state_on_postgres_shards_survives_sigkill_of_its_silo()
    {
        var deploy = Stopwatch.StartNew();
        var prefix = "kill" + Guid.NewGuid().ToString("N")[..8];
        var shards = Enumerable.Range(0, 2).Select(i => servers.Postgres.ConnectionString($"{prefix}_shard_{i}")).ToList();
        await using var cluster = await StandaloneCluster.StartAsync(new StandaloneClusterOptions
        {
            RedisConnectionString = servers.Redis.ConnectionString,
            Shards = shards,
            Silos = 2,
        });

        output.WriteLine($"cluster deployed in {deploy.Elapsed.TotalSeconds:F1} s");
        var doc = cluster.Grains.GetGrain<IDocumentGrain>("survivor");
        await doc.PutAsync("first");
        var written = await doc.PutAsync("second");
        var host = await cluster.FindHostAsync(doc);
        Assert.NotNull(host);
        output.WriteLine($"document 'survivor' v{written.Version} lives on {host}; sending SIGKILL");

        var clock = Stopwatch.StartNew();
        await cluster.KillAsync(host);
        var read = await Eventually.SucceedsAsync("the document is served again", () => doc.GetAsync().WaitAsync(TimeSpan.FromSeconds(3)), RecoveryBound, ClientRetry.IsTransient);

        output.WriteLine($"answered after {clock.Elapsed.TotalSeconds:F2} s by {read.HostedBy}");
        Assert.True(clock.Elapsed < RecoveryBound, $"recovery took {clock.Elapsed}");
        Assert.Equal("second", read.Value);
        Assert.Equal(written.Version, read.Version);
        var newHost = await cluster.FindHostAsync(doc);
        Assert.NotNull(newHost);
        Assert.NotEqual(host.Index, newHost.Index);
    }
}
