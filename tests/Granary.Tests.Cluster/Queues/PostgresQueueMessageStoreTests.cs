using Granary.Queues;
using Granary.Server.Queues;
using Granary.Server.Storage;
using Granary.Tests.Cluster.Infrastructure;
using Microsoft.Extensions.Logging.Abstractions;
using Microsoft.Extensions.Time.Testing;
using Npgsql;
using Xunit.Abstractions;

namespace Granary.Tests.Cluster.Queues;

/// <summary>
/// The PostgreSQL message store on a real server: round trip of every change kind, epoch fencing,
/// commits whose answer is lost, and a writer loop that survives any exception.
/// </summary>
[Collection(ServersCollection.Name)]
public sealed class PostgresQueueMessageStoreTests(SharedServersFixture servers, ITestOutputHelper output)
{
    private static readonly DateTimeOffset T0 = new(2026, 1, 1, 0, 0, 0, TimeSpan.Zero);
    private static readonly TimeSpan Deadline = TimeSpan.FromSeconds(30);

    private static QueuePartitionChange Change(QueueChangeKind kind, long seq, QueueMessageStatus status = QueueMessageStatus.Ready, int deliveries = 0, string? key = null) =>
        new(kind, seq, "id-" + seq, key, kind == QueueChangeKind.Append ? [1, 2, 3] : null, T0, T0.AddSeconds(seq), deliveries, status, T0.AddMinutes(1));

    private async Task<PostgresQueueMessageStore> NewStoreAsync()
    {
        var db = "qstore_" + Guid.NewGuid().ToString("N")[..8];
        var connection = servers.Postgres.ConnectionString(db);
        await PostgresShardInitializer.EnsureShardsAsync([connection], createDatabases: true, NullLogger.Instance, CancellationToken.None);
        return new PostgresQueueMessageStore([connection], 16, "svc");
    }

    /// <summary>Opens partitions <c>prefix/0..count-1</c>; returns their epochs.</summary>
    private static async Task<long[]> OpenAllAsync(PostgresQueueMessageStore store, string prefix, int count)
    {
        var epochs = new long[count];
        for (var p = 0; p < count; p++)
        {
            epochs[p] = (await store.OpenAsync($"{prefix}/{p}", CancellationToken.None)).Epoch;
        }

        return epochs;
    }

    /// <summary>Every row of a partition, with the bodies of unsettled ones (an index read, then the bodies by sequence).</summary>
    private static async Task<IReadOnlyList<StoredQueueMessage>> RowsAsync(PostgresQueueMessageStore store, string partition)
    {
        var rows = await store.ReadIndexAsync(partition, 0, 10_000, CancellationToken.None);
        Assert.All(rows, r => Assert.Null(r.Body));
        var bodies = await store.ReadBodiesAsync(partition, rows.Select(r => r.Sequence).ToList(), CancellationToken.None);
        return rows.Select(r => r with { Body = bodies.GetValueOrDefault(r.Sequence) }).ToList();
    }

    [Fact]
    public async Task Changes_round_trip_and_settled_rows_keep_only_their_id()
    {
        await using var store = await NewStoreAsync();
        var opened = await store.OpenAsync("q/0", CancellationToken.None);
        await store.WriteAsync("q/0", opened.Epoch, [Change(QueueChangeKind.Append, 1, key: "k"), Change(QueueChangeKind.Append, 2), Change(QueueChangeKind.Append, 3)], null, CancellationToken.None);
        await store.WriteAsync("q/0", opened.Epoch, [Change(QueueChangeKind.Settle, 1), Change(QueueChangeKind.Update, 2, QueueMessageStatus.DeadLettered, 4)], null, CancellationToken.None);

        var rows = (await RowsAsync(store, "q/0")).ToDictionary(r => r.Sequence);

        Assert.True(rows[1].Settled);
        Assert.Null(rows[1].Body);
        Assert.Equal(QueueMessageStatus.DeadLettered, rows[2].Status);
        Assert.Equal(4, rows[2].Deliveries);
        Assert.Equal([1, 2, 3], rows[3].Body);
        Assert.Equal(T0.AddSeconds(3), rows[3].VisibleAt);

        var later = await store.OpenAsync("q/0", CancellationToken.None);
        await store.WriteAsync("q/0", later.Epoch, [Change(QueueChangeKind.Append, 4), Change(QueueChangeKind.Delete, 3)], deleteSettledBefore: T0.AddHours(1), CancellationToken.None);
        var remaining = (await RowsAsync(store, "q/0")).Select(r => r.Sequence).ToList();
        Assert.Equal([2, 4], remaining);
    }

    [Fact]
    public async Task A_write_from_an_older_epoch_is_fenced_and_changes_nothing()
    {
        await using var store = await NewStoreAsync();
        var first = await store.OpenAsync("q/1", CancellationToken.None);
        var second = await store.OpenAsync("q/1", CancellationToken.None);
        Assert.True(second.Epoch > first.Epoch);

        await Assert.ThrowsAsync<QueuePartitionFencedException>(() => store.WriteAsync("q/1", first.Epoch, [Change(QueueChangeKind.Append, 1)], null, CancellationToken.None));
        await store.WriteAsync("q/1", second.Epoch, [Change(QueueChangeKind.Append, 2)], null, CancellationToken.None);

        var rows = await RowsAsync(store, "q/1");
        Assert.Equal([2L], rows.Select(r => r.Sequence));
    }

    [Fact]
    public async Task Writes_of_many_partitions_share_transactions_and_a_fenced_one_fails_alone()
    {
        await using var store = await NewStoreAsync();
        const int Partitions = 40;
        var epochs = await OpenAllAsync(store, "g", Partitions);

        // Partition 7 gets a newer owner: its old epoch must be fenced inside a shared transaction.
        var newer = await store.OpenAsync("g/7", CancellationToken.None);
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
            var rows = await RowsAsync(store, $"g/{p}");
            Assert.Equal(p == 7 ? [] : new long[] { 1, 2 }, rows.Select(r => r.Sequence).Order().ToArray());
        }

        Assert.True(newer.Epoch > epochs[7]);
    }

    [Fact]
    public async Task A_shared_transaction_that_committed_unseen_reports_every_write_done_and_stores_each_row_once()
    {
        await using var store = await NewStoreAsync();
        const int Partitions = 24;
        var epochs = await OpenAllAsync(store, "a", Partitions);

        // The first transaction that carries several partition writes commits, then its answer is lost.
        var lost = 0;
        store.AfterCommit = writes => writes > 1 && Interlocked.Exchange(ref lost, 1) == 0
            ? throw new NpgsqlException("injected: connection lost after COMMIT was sent", new IOException("reset"))
            : ValueTask.CompletedTask;
        var before = store.Counters;
        var writes = Enumerable.Range(0, Partitions)
            .Select(p => store.WriteAsync($"a/{p}", epochs[p], [Change(QueueChangeKind.Append, 1), Change(QueueChangeKind.Append, 2), Change(QueueChangeKind.Update, 1, deliveries: 1)], null, CancellationToken.None))
            .ToList();
        await Task.WhenAll(writes).WaitAsync(Deadline);
        var after = store.Counters;
        output.WriteLine($"{after.Writes - before.Writes} partition writes in {after.Transactions - before.Transactions} transactions, one shared commit lost");

        Assert.Equal(1, lost);
        for (var p = 0; p < Partitions; p++)
        {
            var rows = await RowsAsync(store, $"a/{p}");
            Assert.Equal([1L, 2L], rows.Select(r => r.Sequence).Order());
            Assert.Equal(1, rows.Single(r => r.Sequence == 1).Deliveries);
        }
    }

    [Fact]
    public async Task Any_exception_in_the_writer_fails_that_write_and_the_next_write_completes()
    {
        await using var store = await NewStoreAsync();
        var epoch = (await store.OpenAsync("o/0", CancellationToken.None)).Epoch;
        var thrown = 0;
        store.AfterCommit = _ => Interlocked.Exchange(ref thrown, 1) == 0 ? throw new OutOfMemoryException("injected") : ValueTask.CompletedTask;

        // Its commit went through but the writer could not say so: the caller gets the error.
        await Assert.ThrowsAsync<OutOfMemoryException>(() => store.WriteAsync("o/0", epoch, [Change(QueueChangeKind.Append, 1)], null, CancellationToken.None).WaitAsync(Deadline));
        await store.WriteAsync("o/0", epoch, [Change(QueueChangeKind.Append, 2)], null, CancellationToken.None).WaitAsync(Deadline);

        var rows = await RowsAsync(store, "o/0");
        Assert.Equal([1L, 2L], rows.Select(r => r.Sequence));
    }

    [Fact]
    public async Task New_messages_number_above_settled_rows_too_old_to_be_remembered()
    {
        await using var store = await NewStoreAsync();
        var first = await store.OpenAsync("s/0", CancellationToken.None);
        await store.WriteAsync("s/0", first.Epoch, [Change(QueueChangeKind.Append, 1), Change(QueueChangeKind.Append, 2), Change(QueueChangeKind.Append, 3)], null, CancellationToken.None);
        await store.WriteAsync("s/0", first.Epoch, [Change(QueueChangeKind.Settle, 1), Change(QueueChangeKind.Settle, 2), Change(QueueChangeKind.Settle, 3)], null, CancellationToken.None);

        // A later owner an hour on: these settled rows are outside the deduplication window.
        var clock = new FakeTimeProvider(T0.AddHours(1));
        var settings = new QueuePartitionSettings(5, TimeSpan.FromMinutes(5));
        var later = await store.OpenAsync("s/0", CancellationToken.None);
        Assert.Equal(3, later.HighestSequence);

        var ledger = new QueuePartitionLedger(settings, clock);
        ledger.Restore(await store.ReadIndexAsync("s/0", 0, 100, CancellationToken.None));
        ledger.ReserveSequencesThrough(later.HighestSequence);
        Assert.False(ledger.IsDuplicate("id-1"));
        var outcome = ledger.Enqueue("fresh", null, [7], TimeSpan.Zero);
        await store.WriteAsync("s/0", later.Epoch, ledger.DrainChanges(), null, CancellationToken.None);

        Assert.Equal(4, outcome.Sequence);
        var rows = await RowsAsync(store, "s/0");
        Assert.Equal("fresh", rows.Single(r => !r.Settled).Id);
        Assert.Equal(3, rows.Count(r => r.Settled));
    }

    [Fact]
    public async Task Pages_read_ready_rows_in_order_with_bodies_and_skip_settled_and_dead_letters()
    {
        await using var store = await NewStoreAsync();
        var opened = await store.OpenAsync("pg/0", CancellationToken.None);
        await store.WriteAsync("pg/0", opened.Epoch, [.. Enumerable.Range(1, 10).Select(s => Change(QueueChangeKind.Append, s))], null, CancellationToken.None);
        await store.WriteAsync("pg/0", opened.Epoch, [Change(QueueChangeKind.Settle, 2), Change(QueueChangeKind.Update, 3, QueueMessageStatus.DeadLettered, 5)], null, CancellationToken.None);

        var page = await store.ReadPageAsync("pg/0", new QueuePage(0, 8, 4), CancellationToken.None);
        Assert.Equal([1L, 4L, 5L, 6L], page.Select(r => r.Sequence));
        Assert.All(page, r => Assert.Equal([1, 2, 3], r.Body));

        var rest = await store.ReadPageAsync("pg/0", new QueuePage(6, 8, 100), CancellationToken.None);
        Assert.Equal([7L, 8L], rest.Select(r => r.Sequence));

        var index = await store.ReadIndexAsync("pg/0", 4, 3, CancellationToken.None);
        Assert.Equal([5L, 6L, 7L], index.Select(r => r.Sequence));
        Assert.All(index, r => Assert.Null(r.Body));
    }
}
