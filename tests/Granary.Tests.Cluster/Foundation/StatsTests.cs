using Granary.Client.Diagnostics;
using Granary.Client.Locks;
using Granary.Client.Queues;
using Granary.Documents;
using Granary.Errors;
using Granary.Queues;
using Granary.Tests.Cluster.Infrastructure;
using Xunit.Abstractions;

namespace Granary.Tests.Cluster.Foundation;

/// <summary>Metrics: every silo's snapshot reaches the stats grain and sums to what the test did.</summary>
[Collection(FastClusterCollection.Name)]
public sealed class StatsTests(FastClusterFixture fixture, ITestOutputHelper output)
{
    private static readonly TimeSpan Deadline = TimeSpan.FromSeconds(20);

    [Fact]
    public async Task Stats_count_calls_rejections_lease_holders_and_queue_depth_across_silos()
    {
        var stats = new StatsClient(fixture.Grains);
        var before = await stats.GetAsync();
        var callsBefore = before.Calls.Where(c => c.Family == "documents").Sum(c => c.Total);

        const int Puts = 40;
        for (var i = 0; i < Puts; i++)
        {
            await fixture.Grains.GetGrain<IDocumentGrain>("stats-" + Guid.NewGuid()).PutAsync("v");
        }

        await Assert.ThrowsAsync<VersionConflictException>(() => fixture.Grains.GetGrain<IDocumentGrain>("stats-" + Guid.NewGuid()).PutAsync("v", expectedVersion: 5));

        var locks = new DistributedLocks(fixture.Grains);
        var prefix = "stats-lock-" + Guid.NewGuid().ToString("N")[..8];
        var held = new List<LockHandle>();
        for (var i = 0; i < 3; i++)
        {
            held.Add(await locks.AcquireAsync($"{prefix}-{i}", TimeSpan.FromSeconds(30), TimeSpan.Zero));
        }

        var queue = "stats-q-" + Guid.NewGuid().ToString("N")[..8];
        var queues = new QueueClient(fixture.Grains);
        await queues.CreateAsync(queue, new QueueDefinition(Partitions: 2));
        await queues.EnqueueBatchAsync(queue, Enumerable.Range(0, 5).Select(i => new QueueMessageInput([1, 2, 3])).ToList());

        try
        {
            // Silos report every 250 ms in this cluster: wait (bounded) until the reports show all of it.
            var summary = await Eventually.ValueAsync(
                "the silos' reports to show the calls, the queue depth and the holders",
                () => stats.GetAsync(),
                s => s.Calls.Where(c => c.Family == "documents").Sum(c => c.Total) - callsBefore >= Puts + 1
                    && s.Gauges.Where(g => g.Instrument == "granary.queues.depth" && g.Tags == "queue=" + queue).Sum(g => g.Value) == 5
                    && s.Gauges.Where(g => g.Instrument == "granary.locks.holders").Sum(g => g.Value) >= 3,
                Deadline);

            foreach (var row in summary.Calls)
            {
                output.WriteLine($"{row.Family}: total {row.Total}, rejected {row.Rejected}, errors {row.Errors}, p50 {row.P50Ms:F2} ms, p99 {row.P99Ms:F2} ms");
            }

            foreach (var gauge in summary.Gauges)
            {
                output.WriteLine($"{gauge.Instrument} {gauge.Tags} = {gauge.Value}");
            }

            foreach (var series in (await stats.GetRawAsync()).Silos.SelectMany(s => s.Series).Where(s => !s.Instrument.StartsWith("granary.grain", StringComparison.Ordinal)))
            {
                output.WriteLine($"raw {series.Instrument} {series.Kind} total {series.Total} delta {series.Delta}");
            }

            Assert.Equal(3, summary.Silos.Count);
            var document = Assert.Single(summary.Calls, c => c.Family == "documents");
            Assert.True(document.Total - callsBefore >= Puts + 1, $"document calls: {document.Total - callsBefore}, expected at least {Puts + 1}");
            Assert.True(document.Rejected >= 1, "the version conflict is counted as rejected");
            Assert.Equal(0, document.Errors);
            Assert.Equal(5, summary.Gauges.Where(g => g.Instrument == "granary.queues.depth" && g.Tags == "queue=" + queue).Sum(g => g.Value));
            Assert.True(summary.Gauges.Where(g => g.Instrument == "granary.locks.holders").Sum(g => g.Value) >= 3);
            Assert.Contains(summary.Counters, c => c.Instrument == "granary.locks.grants" && c.Total >= 3);
        }
        finally
        {
            foreach (var handle in held)
            {
                await handle.DisposeAsync();
            }
        }
    }
}
