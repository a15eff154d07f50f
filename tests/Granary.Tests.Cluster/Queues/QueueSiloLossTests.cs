using System.Collections.Concurrent;
using System.Diagnostics;
using System.Globalization;
using System.Text;
using Granary.Client.Queues;
using Granary.Queues;
using Granary.Tests.Cluster.Infrastructure;
using Xunit.Abstractions;

namespace Granary.Tests.Cluster.Queues;

/// <summary>
/// History check on TestCluster silo processes with PostgreSQL shards: producers enqueue messages with
/// ids, consumers dequeue and ack, and the silo hosting the most partitions is SIGKILLed twice
/// mid-run (a replacement silo is started each time). Every confirmed enqueue must end up delivered
/// and acked; duplicates are counted.
/// </summary>
[Collection(ServersCollection.Name)]
public sealed class QueueSiloLossTests(SharedServersFixture servers, ITestOutputHelper output)
{
    private const int Messages = 10_000;
    private const int Producers = 8;
    private const int Consumers = 6;
    private const int ProducerBatch = 25;
    private const int Partitions = 4;
    private static readonly TimeSpan Visibility = TimeSpan.FromSeconds(4);
    private static readonly TimeSpan CallTimeout = TimeSpan.FromSeconds(8);
    private static readonly TimeSpan RunBound = TimeSpan.FromSeconds(150);
    private static readonly TimeSpan AckRetryPause = TimeSpan.FromMilliseconds(200);

    [Fact]
    public async Task Confirmed_messages_survive_two_sigkills_of_the_partition_host()
    {
        var prefix = "qloss" + Guid.NewGuid().ToString("N")[..8];
        var shards = Enumerable.Range(0, 2).Select(i => servers.Postgres.ConnectionString($"{prefix}_shard_{i}")).ToList();
        await using var cluster = await StandaloneCluster.StartAsync(new StandaloneClusterOptions
        {
            RedisConnectionString = servers.Redis.ConnectionString,
            Shards = shards,
            Silos = 3,
        });

        var client = new QueueClient(cluster.Grains);
        const string queue = "history";
        await client.CreateAsync(queue, new QueueDefinition(Partitions, MaxDeliveries: 100, DeduplicationWindow: TimeSpan.FromMinutes(10)));

        var clock = Stopwatch.StartNew();
        var confirmed = new ConcurrentDictionary<string, bool>();
        var deliveries = new ConcurrentDictionary<string, int>();
        var acked = new ConcurrentDictionary<string, bool>();
        var errors = new ConcurrentDictionary<string, int>();
        var lastAck = new ConcurrentDictionary<string, string>();
        using var stop = new CancellationTokenSource();

        void Count(Exception ex) => errors.AddOrUpdate(ex.GetType().Name, 1, (_, n) => n + 1);

        async Task ProduceAsync(int producer)
        {
            var mine = Enumerable.Range(0, Messages / Producers).Select(i => string.Create(CultureInfo.InvariantCulture, $"p{producer}-{i}")).ToList();
            foreach (var chunk in mine.Chunk(ProducerBatch))
            {
                var batch = chunk.Select(id => new QueueMessageInput(Encoding.UTF8.GetBytes("payload " + id), id)).ToList();
                while (clock.Elapsed < RunBound)
                {
                    try
                    {
                        // Retries resend the same ids: the partition's dedup window makes them idempotent.
                        var results = await client.EnqueueBatchAsync(queue, batch).WaitAsync(CallTimeout);
                        foreach (var r in results)
                        {
                            confirmed[r.Id] = true;
                        }

                        break;
                    }
                    catch (Exception ex) when (ex is not OperationCanceledException)
                    {
                        Count(ex);
                    }
                }
            }
        }

        async Task ConsumeAsync(int consumer)
        {
            var name = "consumer-" + consumer.ToString(CultureInfo.InvariantCulture);
            while (!stop.IsCancellationRequested)
            {
                try
                {
                    var got = await client.DequeueAsync(queue, name, 20, Visibility, TimeSpan.FromSeconds(1)).WaitAsync(CallTimeout);
                    foreach (var m in got)
                    {
                        deliveries.AddOrUpdate(m.Id, 1, (_, n) => n + 1);
                    }

                    if (got.Count == 0)
                    {
                        continue;
                    }

                    await AckAsync(got);
                }
                catch (Exception ex) when (ex is not OperationCanceledException)
                {
                    Count(ex);
                }
            }
        }

        async Task AckAsync(IReadOnlyList<QueueDelivery> got)
        {
            // An ack whose answer was lost (its silo died) may or may not have landed: ask again until
            // an answer comes. AlreadySettled means it did; LeaseLost means the message went back and
            // will be redelivered. Giving up after a fixed number of attempts would lose track of an
            // ack that landed just before a kill: the message is settled and never comes back, so the
            // history could not tell it from a lost one. Until the partition's new host is known
            // (a SIGKILLed silo is declared dead only after missed probes, longer on a loaded
            // machine), every attempt can fail.
            // The asking again is Eventually's loop (a pause of AckRetryPause between attempts), bounded
            // by the run's deadline and ended early when the run stops.
            var attempt = 0;
            try
            {
                var refused = await Eventually.SucceedsAsync(
                    "an answer to an ack",
                    async () =>
                    {
                        stop.Token.ThrowIfCancellationRequested();
                        attempt++;
                        try
                        {
                            return await client.AckManyAsync(queue, got.Select(m => m.Receipt)).WaitAsync(CallTimeout);
                        }
                        catch (Exception ex) when (ex is not OperationCanceledException)
                        {
                            Count(ex);
                            foreach (var m in got)
                            {
                                lastAck[m.Id] = $"{ex.GetType().Name} at {clock.Elapsed.TotalSeconds:F1} s (attempt {attempt})";
                            }

                            throw;
                        }
                    },
                    RunBound - clock.Elapsed,
                    retry: ex => ex is not OperationCanceledException,
                    poll: AckRetryPause);
                var notAcked = refused.Where(r => r.Problem != ReceiptProblem.AlreadySettled).ToDictionary(r => r.Receipt, r => r.Problem);
                foreach (var m in got)
                {
                    if (notAcked.TryGetValue(m.Receipt, out var problem))
                    {
                        lastAck[m.Id] = $"{problem} at {clock.Elapsed.TotalSeconds:F1} s";
                    }
                    else
                    {
                        acked[m.Id] = true;
                    }
                }
            }
            catch (Exception ex) when (ex is OperationCanceledException or TimeoutException)
            {
                // The run stopped or its deadline passed with no answer: the last error is in lastAck,
                // and the drain check below fails with it if the message is still unacked.
            }
        }

        var producers = Enumerable.Range(0, Producers).Select(p => Task.Run(() => ProduceAsync(p))).ToList();
        var consumers = Enumerable.Range(0, Consumers).Select(c => Task.Run(() => ConsumeAsync(c))).ToList();

        var kills = new List<string>();
        var replacements = new List<Task<StandaloneSilo>>();
        foreach (var threshold in new[] { Messages / 5, Messages / 2 })
        {
            await Eventually.ValueAsync($"{threshold} messages confirmed", () => Task.FromResult(confirmed.Count), n => n >= threshold, RunBound - clock.Elapsed);

            var victim = await BusiestPartitionHostAsync(cluster, client, queue);
            Assert.NotNull(victim);
            kills.Add($"{victim} at {clock.Elapsed.TotalSeconds:F1} s with {confirmed.Count} confirmed, {acked.Count} acked");
            await cluster.KillAsync(victim);
            // The replacement starts while the run goes on, so the second kill still lands mid-run.
            replacements.Add(cluster.AddSiloAsync());
        }

        await Task.WhenAll(producers);
        await Task.WhenAll(replacements);
        var drainStarted = clock.Elapsed;
        TimeoutException? drainTimeout = null;
        try
        {
            await Eventually.ValueAsync("every confirmed message acked (confirmed messages not acked yet)", () => Task.FromResult(confirmed.Keys.Count(id => !acked.ContainsKey(id))), n => n == 0, RunBound - clock.Elapsed, TimeSpan.FromMilliseconds(100));
        }
        catch (TimeoutException ex)
        {
            // Fails below, after saying where each unacked message is: never delivered, delivered with
            // an ack refused (and how), or still in the queue.
            drainTimeout = ex;
        }

        await stop.CancelAsync();
        await Task.WhenAll(consumers);

        var stats = await client.StatsAsync(queue);
        var lost = confirmed.Keys.Where(id => !acked.ContainsKey(id)).ToList();
        foreach (var id in lost.Take(20))
        {
            output.WriteLine($"not acked: {id}: delivered {deliveries.GetValueOrDefault(id)} times, last ack answer: {lastAck.GetValueOrDefault(id) ?? "none"}");
        }

        foreach (var partition in stats.Partitions)
        {
            output.WriteLine($"partition {partition.Partition} on {partition.HostedBy}: ready {partition.Ready}, delayed {partition.Delayed}, in flight {partition.InFlight}, stored only {partition.Stored}, dead-lettered {partition.DeadLettered}");
        }
        var neverDelivered = confirmed.Keys.Count(id => !deliveries.ContainsKey(id));
        var totalDeliveries = deliveries.Values.Sum();
        var duplicates = totalDeliveries - deliveries.Count;
        foreach (var kill in kills)
        {
            output.WriteLine("SIGKILL " + kill);
        }

        output.WriteLine($"confirmed {confirmed.Count}, delivered {deliveries.Count} (deliveries {totalDeliveries}), acked {acked.Count}, lost {lost.Count}, never delivered {neverDelivered}, duplicates {duplicates}");
        output.WriteLine($"run {clock.Elapsed.TotalSeconds:F1} s (drain from {drainStarted.TotalSeconds:F1} s); errors retried: {string.Join(", ", errors.Select(e => $"{e.Key}={e.Value}"))}");
        output.WriteLine($"queue at the end: depth {stats.Depth}, dead-lettered {stats.DeadLettered}, acked by partitions {stats.Partitions.Sum(p => p.Acked)} (since their last activation)");
        Assert.True(drainTimeout is null, $"{drainTimeout?.Message}; {string.Join("; ", lost.Take(5).Select(id => $"{id} delivered {deliveries.GetValueOrDefault(id)} times, last ack answer {lastAck.GetValueOrDefault(id) ?? "none"}"))}; queue depth {stats.Depth}, in flight {stats.Partitions.Sum(p => p.InFlight)}");
        Assert.Equal(2, kills.Count);
        Assert.Equal(0, stats.Depth);
        Assert.Equal(0, stats.DeadLettered);
        Assert.All(kills, k => Assert.DoesNotContain($"{Messages} confirmed", k, StringComparison.Ordinal));
        Assert.Equal(Messages, confirmed.Count);
        Assert.Empty(lost);
        Assert.Equal(0, neverDelivered);
        Assert.All(deliveries.Keys, id => Assert.True(confirmed.ContainsKey(id), $"{id} was delivered but never confirmed"));
    }

    private static async Task<StandaloneSilo?> BusiestPartitionHostAsync(StandaloneCluster cluster, QueueClient client, string queue)
    {
        var hosts = new List<StandaloneSilo>();
        for (var p = 0; p < Partitions; p++)
        {
            if (await cluster.FindHostAsync(client.Partition(queue, p)) is { } host)
            {
                hosts.Add(host);
            }
        }

        return hosts.GroupBy(h => h.Index).OrderByDescending(g => g.Count()).Select(g => g.First()).FirstOrDefault();
    }
}
