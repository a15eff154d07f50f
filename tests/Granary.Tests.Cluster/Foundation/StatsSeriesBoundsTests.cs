using Granary.Client.Queues;
using Granary.Queues;
using Granary.Server.Telemetry;
using Granary.Tests.Cluster.Infrastructure;
using Microsoft.Extensions.DependencyInjection;
using Orleans.TestingHost;
using Xunit.Abstractions;

namespace Granary.Tests.Cluster.Foundation;

/// <summary>Metric series tagged by a name do not outlive what they measure.</summary>
[Collection(FastClusterCollection.Name)]
public sealed class StatsSeriesBoundsTests(FastClusterFixture fixture, ITestOutputHelper output)
{
    [Fact]
    public async Task A_queue_gauge_is_forgotten_once_the_queues_partitions_are_collected()
    {
        var queue = "series-" + Guid.NewGuid().ToString("N")[..8];
        var queues = new QueueClient(fixture.Grains);
        await queues.CreateAsync(queue, new QueueDefinition(Partitions: 1));
        await queues.EnqueueBatchAsync(queue, [new QueueMessageInput([1]), new QueueMessageInput([2])]);
        var collectors = fixture.Cluster.Silos.Cast<InProcessSiloHandle>().Select(s => s.SiloHost.Services.GetRequiredService<SiloStatsCollector>()).ToList();
        var depth = "granary.queues.depth|queue=" + queue;

        // Silos report every 250 ms here: the gauge shows up on the silo hosting the partition.
        await Eventually.TrueAsync("the depth gauge reported", () => collectors.Any(c => c.SeriesKeys.Contains(depth)), TimeSpan.FromSeconds(20));
        var before = collectors.Sum(c => c.SeriesKeys.Count);

        var management = fixture.SiloGrains.GetGrain<IManagementGrain>(0); // deactivating is not open to clients
        var partitions = (await management.GetActiveGrains(GrainType.Create("granary.queues.queue-partition")))
            .Where(id => QueuePlacement.ParsePartitionKey(id.Key.ToString()!).Queue == queue)
            .ToList();
        Assert.Single(partitions);
        foreach (var partition in partitions)
        {
            await management.DeactivateGrain(partition, CancellationToken.None);
        }

        // Without forgetting, every queue name ever seen would keep three series on every silo that hosted it.
        await Eventually.TrueAsync("the queue's series forgotten", () => collectors.All(c => !c.SeriesKeys.Any(k => k.EndsWith("|queue=" + queue, StringComparison.Ordinal))), TimeSpan.FromSeconds(20));
        output.WriteLine($"series on the silos: {before} with the queue's partitions active, {collectors.Sum(c => c.SeriesKeys.Count)} after they were collected");
    }
}
