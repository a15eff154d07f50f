using Granary.Hosting.Queues;
using Granary.Hosting.Storage;
using Granary.Queues;
using Granary.Tests.Cluster.Infrastructure;
using Microsoft.Extensions.Logging.Abstractions;

namespace Granary.Tests.Cluster.Queues;

/// <summary>The PostgreSQL message store on a real server: round trip of every change kind, and epoch fencing.</summary>
[Collection(ServersCollection.Name)]
public sealed class PostgresQueueMessageStoreTests(SharedServersFixture servers)
{
    private static readonly DateTimeOffset T0 = new(2026, 1, 1, 0, 0, 0, TimeSpan.Zero);

    private static QueuePartitionChange Change(QueueChangeKind kind, long seq, QueueMessageStatus status = QueueMessageStatus.Ready, int deliveries = 0, string? key = null) =>
        new(kind, seq, "id-" + seq, key, kind == QueueChangeKind.Append ? [1, 2, 3] : null, T0, T0.AddSeconds(seq), deliveries, status, T0.AddMinutes(1));

    private async Task<PostgresQueueMessageStore> NewStoreAsync()
    {
        var db = "qstore_" + Guid.NewGuid().ToString("N")[..8];
        var connection = servers.Postgres.ConnectionString(db);
        await PostgresShardInitializer.EnsureShardsAsync([connection], createDatabases: true, NullLogger.Instance, CancellationToken.None);
        return new PostgresQueueMessageStore([connection], 16, "svc");
    }

    [Fact]
    public async Task Changes_round_trip_and_settled_rows_keep_only_their_id()
    {
        await using var store = await NewStoreAsync();
        var opened = await store.OpenAsync("q/0", T0, CancellationToken.None);
        await store.WriteAsync("q/0", opened.Epoch, [Change(QueueChangeKind.Append, 1, key: "k"), Change(QueueChangeKind.Append, 2), Change(QueueChangeKind.Append, 3)], null, CancellationToken.None);
        await store.WriteAsync("q/0", opened.Epoch, [Change(QueueChangeKind.Settle, 1), Change(QueueChangeKind.Update, 2, QueueMessageStatus.DeadLettered, 4)], null, CancellationToken.None);

        var rows = (await store.OpenAsync("q/0", T0, CancellationToken.None)).Messages.ToDictionary(r => r.Sequence);

        Assert.True(rows[1].Settled);
        Assert.Null(rows[1].Body);
        Assert.Equal(QueueMessageStatus.DeadLettered, rows[2].Status);
        Assert.Equal(4, rows[2].Deliveries);
        Assert.Equal([1, 2, 3], rows[3].Body);
        Assert.Equal(T0.AddSeconds(3), rows[3].VisibleAt);

        var later = await store.OpenAsync("q/0", T0, CancellationToken.None);
        await store.WriteAsync("q/0", later.Epoch, [Change(QueueChangeKind.Append, 4), Change(QueueChangeKind.Delete, 3)], deleteSettledBefore: T0.AddHours(1), CancellationToken.None);
        var remaining = (await store.OpenAsync("q/0", T0, CancellationToken.None)).Messages.Select(r => r.Sequence).ToList();
        Assert.Equal([2, 4], remaining);
    }

    [Fact]
    public async Task A_write_from_an_older_epoch_is_fenced_and_changes_nothing()
    {
        await using var store = await NewStoreAsync();
        var first = await store.OpenAsync("q/1", T0, CancellationToken.None);
        var second = await store.OpenAsync("q/1", T0, CancellationToken.None);
        Assert.True(second.Epoch > first.Epoch);

        await Assert.ThrowsAsync<QueuePartitionFencedException>(() => store.WriteAsync("q/1", first.Epoch, [Change(QueueChangeKind.Append, 1)], null, CancellationToken.None));
        await store.WriteAsync("q/1", second.Epoch, [Change(QueueChangeKind.Append, 2)], null, CancellationToken.None);

        var rows = (await store.OpenAsync("q/1", T0, CancellationToken.None)).Messages;
        Assert.Equal([2L], rows.Select(r => r.Sequence));
    }

    [Fact]
    public async Task Writes_of_many_partitions_share_transactions_and_a_fenced_one_fails_alone()
    {
        await using var store = await NewStoreAsync();
        const int Partitions = 40;
        var epochs = new long[Partitions];
        for (var p = 0; p < Partitions; p++)
        {
            epochs[p] = (await store.OpenAsync($"g/{p}", T0, CancellationToken.None)).Epoch;
        }

        // Partition 7 gets a newer owner: its old epoch must be fenced inside a shared transaction.
        var newer = await store.OpenAsync("g/7", T0, CancellationToken.None);
        var before = store.Counters;
        var writes = Enumerable.Range(0, Partitions)
            .Select(p => store.WriteAsync($"g/{p}", epochs[p], [Change(QueueChangeKind.Append, 1), Change(QueueChangeKind.Append, 2)], null, CancellationToken.None))
            .ToList();
        await Assert.ThrowsAsync<QueuePartitionFencedException>(() => writes[7]);
        await Task.WhenAll(writes.Where((_, p) => p != 7));
        var after = store.Counters;

        // Shared transactions plus the retries of the one that held the fenced write.
        Assert.True(after.Writes - before.Writes >= Partitions - 1);
        Assert.True(after.Transactions - before.Transactions < Partitions, $"{after.Transactions - before.Transactions} transactions for {Partitions} partition writes");
        for (var p = 0; p < Partitions; p++)
        {
            var rows = (await store.OpenAsync($"g/{p}", T0, CancellationToken.None)).Messages;
            Assert.Equal(p == 7 ? [] : new long[] { 1, 2 }, rows.Select(r => r.Sequence).Order().ToArray());
        }

        Assert.True(newer.Epoch > epochs[7]);
    }
}
