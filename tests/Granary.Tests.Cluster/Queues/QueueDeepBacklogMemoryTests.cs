using System.Globalization;
using Granary.Client.Queues;
using Granary.Queues;
using Granary.Tests.Cluster.Infrastructure;
using Xunit.Abstractions;

namespace Granary.Tests.Cluster.Queues;

/// <summary>
/// Memory of a silo process whose one queue partition holds a deep backlog in PostgreSQL: while the
/// backlog is enqueued, and after a fresh silo activates the partition. A partition keeps only its
/// memory window of message bodies; the rest stays in the store.
/// </summary>
[Collection(ServersCollection.Name)]
public sealed class QueueDeepBacklogMemoryTests(SharedServersFixture servers, ITestOutputHelper output)
{
    private const int Messages = 200_000;
    private const int MessageBytes = 1024;
    private const int Window = 1_000;
    private const long BacklogBytes = (long)Messages * MessageBytes;
    private static readonly TimeSpan Visibility = TimeSpan.FromSeconds(60);

    [Fact]
    public async Task A_deep_backlog_stays_in_the_store_and_the_silo_holds_only_the_window()
    {
        var prefix = "qmem" + Guid.NewGuid().ToString("N")[..8];
        var shards = Enumerable.Range(0, 2).Select(i => servers.Postgres.ConnectionString($"{prefix}_shard_{i}")).ToList();
        await using var cluster = await StandaloneCluster.StartAsync(new StandaloneClusterOptions
        {
            RedisConnectionString = servers.Redis.ConnectionString,
            Shards = shards,
            Silos = 1,
            Settings = new Dictionary<string, string> { ["Granary:Queues:MemoryWindow"] = Window.ToString(CultureInfo.InvariantCulture) },
        });

        var client = new QueueClient(cluster.Grains);
        await client.CreateAsync("deep", new QueueDefinition(Partitions: 1));
        await client.CreateAsync("warm", new QueueDefinition(Partitions: 1));
        await WarmUpAsync(client);
        var idle = Rss(cluster.Silos[0]);

        var watch = System.Diagnostics.Stopwatch.StartNew();
        var chunks = Enumerable.Range(0, Messages).Chunk(Limits.MaxBatchSize).ToList();
        await Parallel.ForEachAsync(chunks, new ParallelOptions { MaxDegreeOfParallelism = 4 }, async (chunk, _) =>
            await client.EnqueueBatchAsync("deep", chunk.Select(_ => new QueueMessageInput(Body())).ToList()));
        var enqueued = Rss(cluster.Silos[0]);
        output.WriteLine($"enqueued {Messages:N0} x {MessageBytes} B in {watch.Elapsed.TotalSeconds:F1} s; silo RSS {Mb(idle)} -> {Mb(enqueued)} MB (+{Mb(enqueued - idle)} MB for {Mb(BacklogBytes)} MB of bodies)");

        // A fresh silo process activates the partition: what does reading the backlog back cost?
        var old = cluster.Silos[0];
        await cluster.KillProcessesAsync(old);
        var fresh = await cluster.AddSiloAsync();
        await cluster.WaitUntilDeclaredDeadAsync(old);
        await WarmUpAsync(client);
        var before = Rss(fresh);
        watch.Restart();
        var stats = await client.StatsAsync("deep");
        var activated = Rss(fresh);
        output.WriteLine($"activation with a backlog of {stats.Depth:N0}: {watch.Elapsed.TotalMilliseconds:F0} ms; fresh silo RSS {Mb(before)} -> {Mb(activated)} MB (+{Mb(activated - before)} MB)");

        // Drain several windows' worth: paging keeps it flowing and memory flat.
        var drained = 0;
        watch.Restart();
        while (drained < 5 * Window)
        {
            var got = await client.DequeueAsync("deep", "drain", 100, Visibility, TimeSpan.FromSeconds(5));
            Assert.NotEmpty(got);
            Assert.Empty(await client.AckManyAsync("deep", got.Select(m => m.Receipt)));
            drained += got.Count;
        }

        var afterDrain = Rss(fresh);
        stats = await client.StatsAsync("deep");
        output.WriteLine($"drained {drained:N0} in {watch.Elapsed.TotalSeconds:F1} s; RSS {Mb(afterDrain)} MB; depth now {stats.Depth:N0}");

        Assert.Equal(Messages - drained, stats.Depth);
        Assert.True(enqueued - idle < BacklogBytes / 2, $"the silo grew by {Mb(enqueued - idle)} MB while {Mb(BacklogBytes)} MB of bodies were enqueued: it holds the backlog");
        Assert.True(activated - before < BacklogBytes / 2, $"activation grew the silo by {Mb(activated - before)} MB for a {Mb(BacklogBytes)} MB backlog: it read the backlog");
    }

    /// <summary>A body of its own per message (the serializer would send one shared array once per call).</summary>
    private static byte[] Body()
    {
        var body = new byte[MessageBytes];
        Random.Shared.NextBytes(body);
        return body;
    }

    private static async Task WarmUpAsync(QueueClient client)
    {
        await ClientRetry.UntilSuccessAsync(() => client.EnqueueAsync("warm", new QueueMessageInput([1, 2, 3])), TimeSpan.FromSeconds(60));
        var got = await client.DequeueAsync("warm", "warm", 10, Visibility, TimeSpan.FromSeconds(5));
        Assert.Empty(await client.AckManyAsync("warm", got.Select(m => m.Receipt)));
    }

    /// <summary>Resident set of the silo process (bytes; on Linux the VmRSS line of /proc/PID/status).</summary>
    private static long Rss(StandaloneSilo silo)
    {
        using var process = System.Diagnostics.Process.GetProcessById(silo.ProcessId);
        return process.WorkingSet64;
    }

    private static string Mb(long bytes) => (bytes / (1024.0 * 1024.0)).ToString("F0", CultureInfo.InvariantCulture);
}
