using System.Diagnostics;
using Granary.Documents;
using Granary.Tests.Cluster.Infrastructure;
using Xunit.Abstractions;

namespace Granary.Tests.Cluster.Foundation;

/// <summary>Real silo processes: a SIGKILL loses nothing that was acknowledged.</summary>
[Collection(ServersCollection.Name)]
public sealed class SiloLossTests(SharedServersFixture servers, ITestOutputHelper output)
{
    private static readonly TimeSpan RecoveryBound = TimeSpan.FromSeconds(15);

    [Fact]
    public async Task Grain_state_on_postgres_shards_survives_sigkill_of_its_silo()
    {
        var prefix = "kill" + Guid.NewGuid().ToString("N")[..8];
        var shards = Enumerable.Range(0, 2).Select(i => servers.Postgres.ConnectionString($"{prefix}_shard_{i}")).ToList();
        await using var cluster = await ProcessCluster.StartAsync(new ProcessClusterOptions
        {
            RedisConnectionString = servers.Redis.ConnectionString,
            Shards = shards,
            Silos = 2,
        });

        var doc = cluster.Grains.GetGrain<IDocumentGrain>("survivor");
        await doc.PutAsync("first");
        var written = await doc.PutAsync("second");
        var host = await cluster.FindHostAsync(doc);
        Assert.NotNull(host);
        output.WriteLine($"document 'survivor' v{written.Version} lives on {host}; sending SIGKILL");

        var clock = Stopwatch.StartNew();
        ProcessCluster.Kill(host);
        DocumentSnapshot? read = null;
        Exception? last = null;
        while (clock.Elapsed < RecoveryBound && read is null)
        {
            try
            {
                read = await doc.GetAsync().WaitAsync(TimeSpan.FromSeconds(3));
            }
            catch (Exception ex) when (ClientRetry.IsTransient(ex))
            {
                last = ex;
            }
        }

        output.WriteLine($"answered after {clock.Elapsed.TotalSeconds:F2} s by {read?.HostedBy ?? "nobody"} (last error: {last?.GetType().Name})");
        Assert.NotNull(read);
        Assert.True(clock.Elapsed < RecoveryBound, $"recovery took {clock.Elapsed}");
        Assert.Equal("second", read.Value);
        Assert.Equal(written.Version, read.Version);
        var newHost = await cluster.FindHostAsync(doc);
        Assert.NotNull(newHost);
        Assert.NotEqual(host.Index, newHost.Index);
    }
}
