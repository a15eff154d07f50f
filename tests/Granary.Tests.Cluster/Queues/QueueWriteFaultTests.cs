using System.Text;
using Granary.Client.Queues;
using Granary.Errors;
using Granary.Queues;
using Granary.Tests.Cluster.Infrastructure;
using Xunit.Abstractions;

namespace Granary.Tests.Cluster.Queues;

/// <summary>
/// What producers see when a queue partition's storage write fails, is still in flight, or is
/// applied but reported failed (memory message store behind <see cref="StorageFaults"/>).
/// </summary>
[Collection(FaultInjectionCollection.Name)]
public sealed class QueueWriteFaultTests(FaultInjectionClusterFixture fixture, ITestOutputHelper output)
{
    private static readonly TimeSpan Deadline = TimeSpan.FromSeconds(20);
    private static readonly TimeSpan Visibility = TimeSpan.FromSeconds(30);

    private StorageFaults Faults => fixture.Faults;

    private static QueueMessageInput Message(string id) => new(Encoding.UTF8.GetBytes("body-" + id), id);

    private async Task<(QueueClient Client, string Queue)> NewQueueAsync()
    {
        var client = new QueueClient(fixture.Grains);
        var queue = "qf-" + Guid.NewGuid().ToString("N");
        await client.CreateAsync(queue, new QueueDefinition(Partitions: 1, MaxDeliveries: 5));
        return (client, queue);
    }

    [Fact]
    public async Task A_duplicate_of_a_message_whose_write_fails_gets_the_error_and_a_retry_stores_it_once()
    {
        var (client, queue) = await NewQueueAsync();
        var partition = client.Partition(queue, 0);
        var held = Faults.Hold(StorageFaults.QueueTarget, queue);

        // The original's write is in flight when the duplicate (a producer retrying after a timeout) arrives.
        var original = partition.EnqueueAsync([Message("m-1")]);
        await held.Entered.WaitAsync(Deadline);
        var arrived = Faults.NextCall(nameof(IQueuePartitionGrain.EnqueueAsync), queue);
        var duplicate = partition.EnqueueAsync([Message("m-1")]);
        await arrived.WaitAsync(Deadline);
        held.Fail(new OutOfMemoryException("injected: the write holding the original fails"));

        var originalError = await Assert.ThrowsAsync<ServiceUnavailableException>(() => original.WaitAsync(Deadline));
        var duplicateError = await Assert.ThrowsAsync<ServiceUnavailableException>(() => duplicate.WaitAsync(Deadline));
        output.WriteLine($"original: {originalError.Message}");
        output.WriteLine($"duplicate: {duplicateError.Message}");
        Assert.Equal(0, Faults.AppendsOf("m-1"));

        // A producer that retries the same id until it is confirmed stores the message exactly once.
        var confirmed = await RetryUntilConfirmedAsync(() => partition.EnqueueAsync([Message("m-1")]));
        Assert.False(confirmed.Duplicate, "nothing was stored before the retry: it cannot be a duplicate");
        Assert.Equal(1, Faults.AppendsOf("m-1"));
        var delivered = await DrainAsync(client, fixture.SiloGrains, queue);
        Assert.Equal(["m-1"], delivered);
    }

    [Fact]
    public async Task A_write_applied_but_reported_failed_is_answered_as_a_duplicate_on_retry_and_stored_once()
    {
        var (client, queue) = await NewQueueAsync();
        var partition = client.Partition(queue, 0);
        Faults.FailAfter(StorageFaults.QueueTarget, queue, new IOException("injected: connection lost after COMMIT was sent"));

        var error = await Assert.ThrowsAsync<ServiceUnavailableException>(() => partition.EnqueueAsync([Message("m-2"), Message("m-3")]).WaitAsync(Deadline));
        output.WriteLine($"first attempt: {error.Message}");
        Assert.Equal(1, Faults.AppendsOf("m-2"));

        var retried = await RetryUntilConfirmedAsync(() => partition.EnqueueAsync([Message("m-2"), Message("m-3")]));
        output.WriteLine($"retry: duplicate={retried.Duplicate}");
        Assert.True(retried.Duplicate, "the first write was stored: the retry must find it");
        Assert.Equal(1, Faults.AppendsOf("m-2"));
        Assert.Equal(1, Faults.AppendsOf("m-3"));
        Assert.Equal(["m-2", "m-3"], await DrainAsync(client, fixture.SiloGrains, queue));

        // A fresh activation reads the same: nothing stored twice.
        await fixture.SiloGrains.GetGrain<IManagementGrain>(0).ForceActivationCollection(TimeSpan.Zero); // not open to clients
        var stats = await client.StatsAsync(queue);
        Assert.Equal(0, stats.Depth);
    }

    [Fact]
    public async Task After_a_write_fails_with_any_exception_the_partition_keeps_writing()
    {
        var (client, queue) = await NewQueueAsync();
        var partition = client.Partition(queue, 0);
        Faults.FailBefore(StorageFaults.QueueTarget, queue, new OutOfMemoryException("injected"));

        await Assert.ThrowsAsync<ServiceUnavailableException>(() => partition.EnqueueAsync([Message("m-4")]).WaitAsync(Deadline));
        var next = await RetryUntilConfirmedAsync(() => partition.EnqueueAsync([Message("m-5")]));
        Assert.False(next.Duplicate);
        Assert.Equal(["m-5"], await DrainAsync(client, fixture.SiloGrains, queue));
    }

    [Fact]
    public async Task A_duplicate_create_of_a_queue_whose_write_fails_gets_the_error()
    {
        var queue = "qc-" + Guid.NewGuid().ToString("N");
        var grain = fixture.Grains.GetGrain<IQueueGrain>(queue);
        var definition = new QueueDefinition(Partitions: 2, MaxDeliveries: 3);
        var held = Faults.Hold("queue-definition", queue);

        var first = grain.CreateAsync(definition);
        await held.Entered.WaitAsync(Deadline);
        var arrived = Faults.NextCall(nameof(IQueueGrain.CreateAsync), queue);
        var second = grain.CreateAsync(definition);
        await arrived.WaitAsync(Deadline);
        held.Fail(new InvalidOperationException("injected"));

        await Assert.ThrowsAnyAsync<Exception>(() => first.WaitAsync(Deadline));
        await Assert.ThrowsAnyAsync<Exception>(() => second.WaitAsync(Deadline));
        await Assert.ThrowsAsync<QueueNotFoundException>(() => grain.GetInfoAsync());
        var created = await grain.CreateAsync(definition);
        Assert.Equal(2, created.Partitions);
        Assert.Equal(1, Faults.StateWritesOf("queue-definition", queue));
    }

    private static async Task<EnqueueResult> RetryUntilConfirmedAsync(Func<Task<IReadOnlyList<EnqueueResult>>> enqueue) =>
        (await ClientRetry.UntilSuccessAsync(enqueue, Deadline))[0];

    /// <summary>Every message the partition can deliver now, acked (read from the partition itself, inside a silo: no notification race).</summary>
    private static async Task<List<string>> DrainAsync(QueueClient client, IGrainFactory silo, string queue)
    {
        var ids = new List<string>();
        while (true)
        {
            var got = await silo.GetGrain<IQueuePartitionGrain>(QueuePlacement.PartitionKey(queue, 0)).TryDequeueAsync("drain", 100, Visibility);
            ids.AddRange(got.Deliveries.Select(d => d.Id));
            if (got.Deliveries.Count > 0)
            {
                Assert.Empty(await client.AckManyAsync(queue, got.Deliveries.Select(d => d.Receipt)));
            }

            if (!got.MoreAvailable)
            {
                return ids;
            }
        }
    }
}
