using System.Diagnostics;
using System.Text;
using Granary.Client.Queues;
using Granary.Errors;
using Granary.Queues;
using Granary.Tests.Cluster.Foundation;
using Granary.Tests.Cluster.Infrastructure;
using Orleans.Runtime;
using Xunit.Abstractions;

namespace Granary.Tests.Cluster.Queues;

/// <summary>
/// Queue and partition grains on an in-process cluster, written once and run on every storage backend
/// (<see cref="QueueScenariosOnMemory"/>, <see cref="QueueScenariosOnPostgres"/>).
/// </summary>
public abstract class QueueScenarios(GranaryTestClusterFixture fixture, ITestOutputHelper output)
{
    private static readonly TimeSpan Visibility = TimeSpan.FromSeconds(30);

    private static byte[] Body(string text) => Encoding.UTF8.GetBytes(text);

    private async Task<(QueueClient Client, string Queue)> NewQueueAsync(int partitions = 4, int maxDeliveries = 5)
    {
        var client = new QueueClient(fixture.Grains);
        var queue = "q-" + Guid.NewGuid().ToString("N");
        await client.CreateAsync(queue, new QueueDefinition(partitions, maxDeliveries));
        return (client, queue);
    }

    [Fact]
    public async Task Enqueued_messages_are_dequeued_from_every_partition_and_acked()
    {
        var (client, queue) = await NewQueueAsync(partitions: 4);
        var ids = Enumerable.Range(0, 200).Select(i => "m-" + i).ToList();
        await client.EnqueueBatchAsync(queue, ids.Select(id => new QueueMessageInput(Body(id), id)).ToList());

        var seen = new HashSet<string>();
        var partitions = new HashSet<int>();
        while (seen.Count < ids.Count)
        {
            var batch = await client.DequeueAsync(queue, "c1", 50, Visibility, TimeSpan.FromSeconds(2));
            Assert.NotEmpty(batch);
            foreach (var m in batch)
            {
                Assert.True(seen.Add(m.Id), $"{m.Id} delivered twice");
                partitions.Add(m.Partition);
            }

            Assert.Empty(await client.AckManyAsync(queue, batch.Select(m => m.Receipt)));
        }

        var stats = await client.StatsAsync(queue);
        output.WriteLine($"depth {stats.Depth}, acked {stats.Partitions.Sum(p => p.Acked)}, partitions used {partitions.Count}");
        Assert.Equal(4, partitions.Count);
        Assert.Equal(0, stats.Depth);
        Assert.Equal(200, stats.Partitions.Sum(p => p.Acked));
    }

    [Fact]
    public async Task Same_key_lands_in_one_partition_and_keeps_its_order()
    {
        var (client, queue) = await NewQueueAsync(partitions: 4);
        var results = new List<EnqueueResult>();
        for (var i = 0; i < 5; i++)
        {
            results.Add(await client.EnqueueAsync(queue, new QueueMessageInput(Body("k" + i), "key-msg-" + i, Key: "customer-7")));
        }

        Assert.Single(results.Select(r => r.Partition).Distinct());
        var order = new List<string>();
        while (order.Count < 5)
        {
            var batch = await client.DequeueAsync(queue, "c", 10, Visibility, TimeSpan.FromSeconds(2));
            Assert.Single(batch); // one in flight per key
            order.Add(batch[0].Id);
            await client.AckAsync(queue, batch[0].Receipt);
        }

        Assert.Equal(Enumerable.Range(0, 5).Select(i => "key-msg-" + i), order);
    }

    [Fact]
    public async Task Duplicate_message_id_is_enqueued_once()
    {
        var (client, queue) = await NewQueueAsync();
        var first = await client.EnqueueAsync(queue, new QueueMessageInput(Body("a"), "same-id"));
        var second = await client.EnqueueAsync(queue, new QueueMessageInput(Body("b"), "same-id"));

        Assert.False(first.Duplicate);
        Assert.True(second.Duplicate);
        Assert.Equal(first.Sequence, second.Sequence);
        var stats = await client.StatsAsync(queue);
        Assert.Equal(1, stats.Ready);
    }

    [Fact]
    public async Task Long_poll_dequeue_returns_when_a_message_arrives()
    {
        var (client, queue) = await NewQueueAsync();
        var watch = Stopwatch.StartNew();
        var waiting = client.DequeueAsync(queue, "waiter", 1, Visibility, TimeSpan.FromSeconds(15));
        await Task.Delay(300); // the behaviour under test: an empty long poll is still waiting after 300 ms, not a timeout wait for a condition
        Assert.False(waiting.IsCompleted);
        await client.EnqueueAsync(queue, new QueueMessageInput(Body("wake"), "wake-up"));

        var got = await waiting.WaitAsync(TimeSpan.FromSeconds(10));
        output.WriteLine($"long poll returned after {watch.ElapsedMilliseconds} ms");
        Assert.Equal("wake-up", Assert.Single(got).Id);
        Assert.True(watch.Elapsed < TimeSpan.FromSeconds(10));
    }

    [Fact]
    public async Task Empty_long_poll_ends_at_its_wait()
    {
        var (client, queue) = await NewQueueAsync();
        var watch = Stopwatch.StartNew();
        var got = await client.DequeueAsync(queue, "waiter", 1, Visibility, TimeSpan.FromMilliseconds(500));
        Assert.Empty(got);
        Assert.InRange(watch.ElapsedMilliseconds, 400, 5_000);
    }

    [Fact]
    public async Task Nack_to_dead_letter_then_redrive_and_purge()
    {
        var (client, queue) = await NewQueueAsync(partitions: 2);
        await client.EnqueueAsync(queue, new QueueMessageInput(Body("poison"), "poison"));
        var got = Assert.Single(await client.DequeueAsync(queue, "c", 1, Visibility, TimeSpan.FromSeconds(2)));
        await client.NackAsync(queue, got.Receipt, TimeSpan.Zero, deadLetter: true);

        var dead = Assert.Single(await client.Queue(queue).GetDeadLettersAsync(10));
        Assert.Equal("poison", dead.Id);
        Assert.Equal(1, await client.Queue(queue).RedriveAsync(10));
        var again = Assert.Single(await client.DequeueAsync(queue, "c", 1, Visibility, TimeSpan.FromSeconds(2)));
        Assert.Equal("poison", again.Id);
        await client.NackAsync(queue, again.Receipt, TimeSpan.Zero, deadLetter: true);
        Assert.Equal(1, await client.Queue(queue).PurgeDeadLettersAsync());
        Assert.Equal(0, (await client.StatsAsync(queue)).DeadLettered);
    }

    [Fact]
    public async Task Bad_requests_are_typed_errors_and_change_nothing()
    {
        var (client, queue) = await NewQueueAsync();
        await client.EnqueueAsync(queue, new QueueMessageInput(Body("kept"), "kept"));

        await Assert.ThrowsAsync<QueueNotFoundException>(() => client.EnqueueAsync("no-such-queue-" + Guid.NewGuid().ToString("N"), new QueueMessageInput(Body("x"))));
        var oversize = await Assert.ThrowsAsync<InvalidRequestException>(() => client.EnqueueAsync(queue, new QueueMessageInput(new byte[Limits.Queues.MaxBodyBytes + 1], "big")));
        Assert.Equal("body", oversize.Parameter);
        var negative = await Assert.ThrowsAsync<InvalidRequestException>(() => client.EnqueueAsync(queue, new QueueMessageInput(Body("x"), "neg", Delay: TimeSpan.FromSeconds(-1))));
        Assert.Equal("delay", negative.Parameter);
        await Assert.ThrowsAsync<ReceiptInvalidException>(() => client.AckAsync(queue, "garbage"));
        var unknown = await Assert.ThrowsAsync<ReceiptInvalidException>(() => client.AckAsync(queue, "0.999999.1"));
        Assert.Equal(ReceiptProblem.Unknown, unknown.Problem);

        var got = Assert.Single(await client.DequeueAsync(queue, "c", 10, Visibility, TimeSpan.FromSeconds(2)));
        await client.AckAsync(queue, got.Receipt);
        var twice = await Assert.ThrowsAsync<ReceiptInvalidException>(() => client.AckAsync(queue, got.Receipt));
        Assert.Equal(ReceiptProblem.AlreadySettled, twice.Problem);
        await Assert.ThrowsAsync<InvalidRequestException>(() => client.NackAsync(queue, got.Receipt, TimeSpan.FromSeconds(-5)));

        var stats = await client.StatsAsync(queue);
        Assert.Equal(1, stats.Partitions.Sum(p => p.Enqueued));
        Assert.Equal(1, stats.Partitions.Sum(p => p.Acked));
        Assert.Equal(0, stats.Depth);
    }

    [Fact]
    public async Task Concurrent_single_enqueues_and_acks_share_calls_and_a_bad_request_fails_alone()
    {
        const int Messages = 300;
        var (client, queue) = await NewQueueAsync(partitions: 2);

        // Free messages (no key, no id), one keyed message per 10 and one oversize message, all at once.
        var enqueues = Enumerable.Range(0, Messages)
            .Select(i => client.EnqueueAsync(queue, new QueueMessageInput(Body("m-" + i), Key: i % 10 == 0 ? "k-" + i : null)))
            .ToList();
        var oversize = client.EnqueueAsync(queue, new QueueMessageInput(new byte[Limits.Queues.MaxBodyBytes + 1]));
        var confirmed = await Task.WhenAll(enqueues);
        Assert.Equal("body", (await Assert.ThrowsAsync<InvalidRequestException>(() => oversize)).Parameter);
        Assert.Equal(Messages, confirmed.Select(r => r.Id).Distinct().Count());
        Assert.DoesNotContain(confirmed, r => r.Duplicate);

        var stats = await client.StatsAsync(queue);
        var writes = stats.Partitions.Sum(p => p.StorageWrites);
        output.WriteLine($"{Messages} concurrent enqueues: {writes} partition writes, {stats.Depth} messages stored");
        Assert.Equal(Messages, stats.Depth);
        Assert.True(writes <= Messages / 10, $"{writes} writes for {Messages} concurrent enqueues: they were not coalesced");

        var deliveries = new List<QueueDelivery>();
        while (deliveries.Count < Messages)
        {
            var batch = await client.DequeueAsync(queue, "c", 100, Visibility, TimeSpan.FromSeconds(2));
            Assert.NotEmpty(batch);
            deliveries.AddRange(batch);
        }

        // Every receipt acked concurrently, one of them twice: only the second ack of it is refused.
        var acks = deliveries.Select(d => client.AckAsync(queue, d.Receipt)).Append(client.AckAsync(queue, deliveries[7].Receipt)).ToList();
        var refused = new List<ReceiptInvalidException>();
        foreach (var ack in acks)
        {
            try
            {
                await ack;
            }
            catch (ReceiptInvalidException ex)
            {
                refused.Add(ex);
            }
        }

        Assert.Equal(ReceiptProblem.AlreadySettled, Assert.Single(refused).Problem);
        stats = await client.StatsAsync(queue);
        output.WriteLine($"{acks.Count} concurrent acks: {stats.Partitions.Sum(p => p.StorageWrites) - writes} partition writes");
        Assert.Equal(0, stats.Depth);
        Assert.Equal(Messages, stats.Partitions.Sum(p => p.Acked));
    }

    [Fact]
    public async Task Topic_exchange_routes_confirms_and_reports_unroutable()
    {
        var (client, eu) = await NewQueueAsync(partitions: 2);
        var (_, all) = await NewQueueAsync(partitions: 2);
        var exchange = fixture.Grains.GetGrain<IExchangeGrain>("x-" + Guid.NewGuid().ToString("N"));
        await Assert.ThrowsAsync<ExchangeNotFoundException>(() => exchange.PublishAsync("a", new QueueMessageInput(Body("x"))));
        await exchange.DeclareAsync(ExchangeKind.Topic);
        await exchange.BindAsync(eu, "order.*.eu");
        await exchange.BindAsync(all, "order.#");
        await Assert.ThrowsAsync<QueueNotFoundException>(() => exchange.BindAsync("missing-" + Guid.NewGuid().ToString("N"), "#"));

        var both = await exchange.PublishAsync("order.created.eu", new QueueMessageInput(Body("1"), "evt-1"));
        var one = await exchange.PublishAsync("order.created.us", new QueueMessageInput(Body("2")));
        var none = await exchange.PublishAsync("stock.low", new QueueMessageInput(Body("3")));

        Assert.Equal(new[] { all, eu }.Order(StringComparer.Ordinal), both.Queues.Order(StringComparer.Ordinal));
        Assert.Equal([all], one.Queues);
        Assert.True(none.Unroutable);
        Assert.Equal(1, (await client.StatsAsync(eu)).Ready);
        Assert.Equal(2, (await client.StatsAsync(all)).Ready);
    }

    [Fact]
    public async Task A_repeated_ack_of_a_message_settled_beyond_the_memory_window_is_already_settled_after_reactivation()
    {
        // An ack whose answer was lost is sent again, and the partition was reactivated in between
        // (its silo died). After reactivation the window holds the first 1,000 unsettled messages;
        // the acked message's sequence lies in the range held only in storage. The repeat must say
        // AlreadySettled (the ack landed), not LeaseLost (which promises a redelivery that never comes),
        // and a stale receipt of a message still stored must say LeaseLost.
        const int Messages = 2_500;
        var (client, queue) = await NewQueueAsync(partitions: 1);
        foreach (var chunk in Enumerable.Range(0, Messages).Chunk(Limits.MaxBatchSize))
        {
            await client.EnqueueBatchAsync(queue, chunk.Select(i => new QueueMessageInput(Body("m-" + i), "m-" + i)).ToList());
        }

        var leased = new List<QueueDelivery>();
        while (leased.Count < 1_500)
        {
            var batch = await client.DequeueAsync(queue, "c", 500, TimeSpan.FromMinutes(5), TimeSpan.FromSeconds(2));
            Assert.NotEmpty(batch);
            leased.AddRange(batch);
        }

        var acked = leased.Single(m => m.Id == "m-1400");
        var stale = leased.Single(m => m.Id == "m-1300");
        await client.AckAsync(queue, acked.Receipt);

        var management = fixture.SiloGrains.GetGrain<IManagementGrain>(0); // deactivating is not open to clients
        var partitionGrains = (await management.GetActiveGrains(GrainType.Create("granary.queues.queue-partition")))
            .Where(id => QueuePlacement.ParsePartitionKey(id.Key.ToString()!).Queue == queue)
            .ToList();
        var partitionGrain = Assert.Single(partitionGrains);
        await management.DeactivateGrain(partitionGrain, CancellationToken.None);
        await Eventually.TrueAsync("the partition's activation gone", async () => !(await management.GetActiveGrains(GrainType.Create("granary.queues.queue-partition"))).Contains(partitionGrain), TimeSpan.FromSeconds(20));

        var stats = (await client.StatsAsync(queue)).Partitions[0];
        output.WriteLine($"after reactivation: ready {stats.Ready}, stored only {stats.Stored}, depth {Messages - 1}");
        Assert.True(stats.Stored > 0, "the reactivated partition holds part of the backlog only in storage");

        var repeat = Assert.Single(await client.AckManyAsync(queue, [acked.Receipt]));
        Assert.Equal(ReceiptProblem.AlreadySettled, repeat.Problem);
        var single = await Assert.ThrowsAsync<ReceiptInvalidException>(() => client.AckAsync(queue, acked.Receipt));
        Assert.Equal(ReceiptProblem.AlreadySettled, single.Problem);
        var lost = await Assert.ThrowsAsync<ReceiptInvalidException>(() => client.AckAsync(queue, stale.Receipt));
        Assert.Equal(ReceiptProblem.LeaseLost, lost.Problem);
        Assert.Equal(Messages - 1, (await client.StatsAsync(queue)).Depth);
    }

    [Fact]
    public async Task A_backlog_beyond_the_memory_window_is_paged_in_order_with_redeliveries_and_dead_letters_read_from_the_store()
    {
        // The silo's default window is 1,000 messages per partition: 2,500 in one partition spill.
        const int Messages = 2_500;
        const int Window = 1_000;
        var (client, queue) = await NewQueueAsync(partitions: 1, maxDeliveries: 5);
        foreach (var chunk in Enumerable.Range(0, Messages).Chunk(Limits.MaxBatchSize))
        {
            await client.EnqueueBatchAsync(queue, chunk.Select(i => new QueueMessageInput(Body("m-" + i), "m-" + i)).ToList());
        }

        var stats = await client.StatsAsync(queue);
        var partition = Assert.Single(stats.Partitions);
        output.WriteLine($"after enqueue: ready {partition.Ready}, stored only {partition.Stored}, bodies in memory {partition.BodiesInMemory}");
        Assert.Equal(Messages, stats.Depth);
        Assert.True(partition.BodiesInMemory <= Window, $"{partition.BodiesInMemory} bodies in memory");
        Assert.True(partition.Stored >= Messages - Window, $"{partition.Stored} messages left to the store");

        // m-5 is nacked once (redelivered: its body comes from the store), m-7 is dead-lettered.
        var firstSeen = new List<string>();
        var maxBodies = 0;
        var settled = 0;
        while (settled < Messages - 1)
        {
            var batch = await client.DequeueAsync(queue, "c", 200, Visibility, TimeSpan.FromSeconds(2));
            Assert.NotEmpty(batch);
            foreach (var m in batch)
            {
                Assert.Equal(Body(m.Id), m.Body);
                if (m.Deliveries == 1)
                {
                    firstSeen.Add(m.Id);
                }

                if (m.Id == "m-5" && m.Deliveries == 1)
                {
                    await client.NackAsync(queue, m.Receipt, TimeSpan.Zero);
                }
                else if (m.Id == "m-7")
                {
                    await client.NackAsync(queue, m.Receipt, TimeSpan.Zero, deadLetter: true);
                }
                else
                {
                    await client.AckAsync(queue, m.Receipt);
                    settled++;
                }
            }

            maxBodies = Math.Max(maxBodies, (await client.StatsAsync(queue)).Partitions[0].BodiesInMemory);
        }

        output.WriteLine($"drained {Messages} with at most {maxBodies} bodies in memory");
        Assert.Equal(Enumerable.Range(0, Messages).Select(i => "m-" + i), firstSeen);
        Assert.True(maxBodies <= Window, $"{maxBodies} bodies in memory while draining");

        var dead = Assert.Single(await client.Queue(queue).GetDeadLettersAsync(10));
        Assert.Equal("m-7", dead.Id);
        Assert.Equal(Body("m-7"), dead.Body);
        Assert.Equal(1, await client.Queue(queue).RedriveAsync(10));
        var redriven = Assert.Single(await client.DequeueAsync(queue, "c", 10, Visibility, TimeSpan.FromSeconds(2)));
        Assert.Equal(Body("m-7"), redriven.Body);
        await client.AckAsync(queue, redriven.Receipt);
        Assert.Equal(0, (await client.StatsAsync(queue)).Depth);
    }

    [Fact]
    public async Task A_full_queue_refuses_enqueues_batches_and_publishes_whole_and_stores_nothing()
    {
        var client = new QueueClient(fixture.Grains);
        var small = "full-" + Guid.NewGuid().ToString("N");
        var wide = "wide-" + Guid.NewGuid().ToString("N");
        var split = "split-" + Guid.NewGuid().ToString("N");
        await client.CreateAsync(small, new QueueDefinition(Partitions: 1, MaxDepth: 3));
        await client.CreateAsync(wide, new QueueDefinition(Partitions: 2, MaxDepth: 100));
        await client.CreateAsync(split, new QueueDefinition(Partitions: 2, MaxDepth: 4));
        await Assert.ThrowsAsync<InvalidRequestException>(() => client.CreateAsync("huge-" + Guid.NewGuid().ToString("N"), new QueueDefinition(MaxDepth: Limits.Queues.MaxDepth + 1)));

        // Three fit; a fourth is refused with a typed, retryable-later error, and a duplicate needs no room.
        for (var i = 0; i < 3; i++)
        {
            await client.EnqueueAsync(small, new QueueMessageInput(Body("s" + i), "s" + i));
        }

        var full = await Assert.ThrowsAsync<QueueFullException>(() => client.EnqueueAsync(small, new QueueMessageInput(Body("s3"), "s3")));
        output.WriteLine(full.Message);
        Assert.Equal(ErrorCodes.ResourceExhausted, full.Code);
        Assert.Equal(3, full.Limit);
        Assert.True((await client.EnqueueAsync(small, new QueueMessageInput(Body("s0"), "s0"))).Duplicate);
        Assert.Equal(3, (await client.StatsAsync(small)).Depth);

        // A publish routed to a full queue and a queue with room stores nothing in either.
        var exchange = fixture.Grains.GetGrain<IExchangeGrain>("x-" + Guid.NewGuid().ToString("N"));
        await exchange.DeclareAsync(ExchangeKind.Fanout);
        await exchange.BindAsync(small, "");
        await exchange.BindAsync(wide, "");
        var refused = await Assert.ThrowsAsync<QueueFullException>(() => exchange.PublishAsync("any", new QueueMessageInput(Body("p1"), "p1")));
        output.WriteLine(refused.Message);
        Assert.Equal([small], refused.RefusedQueues);
        Assert.Empty(refused.StoredIn);
        Assert.Equal(0, (await client.StatsAsync(wide)).Depth);
        Assert.Equal(3, (await client.StatsAsync(small)).Depth);

        // Room again after an ack: the same publish reaches both; the reservations it left are gone.
        var one = Assert.Single(await client.DequeueAsync(small, "c", 1, Visibility, TimeSpan.FromSeconds(2)));
        await client.AckAsync(small, one.Receipt);
        var published = await exchange.PublishAsync("any", new QueueMessageInput(Body("p1"), "p1"));
        Assert.Equal(2, published.Queues.Count);
        Assert.Equal(1, (await client.StatsAsync(wide)).Depth);
        Assert.Equal(3, (await client.StatsAsync(small)).Depth);

        // A batch over two partitions (2 messages each at most) where one partition is full: nothing stored.
        var keys = Enumerable.Range(0, 100).Select(i => "k" + i).ToList();
        var onZero = keys.Where(k => QueuePlacement.PartitionFor(k, "", 2) == 0).Take(3).ToList();
        var onOne = keys.First(k => QueuePlacement.PartitionFor(k, "", 2) == 1);
        await client.EnqueueBatchAsync(split, onZero.Take(2).Select(k => new QueueMessageInput(Body(k), Key: k)).ToList());
        var batchRefused = await Assert.ThrowsAsync<QueueFullException>(() => client.EnqueueBatchAsync(split,
            [new QueueMessageInput(Body(onOne), Key: onOne), new QueueMessageInput(Body(onZero[2]), Key: onZero[2])]));
        Assert.Empty(batchRefused.StoredIn);
        var splitStats = await client.StatsAsync(split);
        Assert.Equal(2, splitStats.Depth);
        Assert.Equal(0, splitStats.Partitions.Single(p => p.Partition == 1).Depth);
    }
}

/// <summary>The queue scenarios on memory storage (the fast cluster).</summary>
[Collection(FastClusterCollection.Name)]
public sealed class QueueScenariosOnMemory(FastClusterFixture cluster, ITestOutputHelper output) : QueueScenarios(cluster, output);

/// <summary>The queue scenarios on Redis clustering and PostgreSQL shards.</summary>
[Collection(PostgresClusterCollection.Name)]
public sealed class QueueScenariosOnPostgres(PostgresClusterFixture cluster, ITestOutputHelper output) : QueueScenarios(cluster, output);
