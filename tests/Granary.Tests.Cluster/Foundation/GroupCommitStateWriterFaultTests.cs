using System.Globalization;
using Granary.Server.Storage;
using Granary.Tests.Cluster.Infrastructure;
using Npgsql;
using Orleans.Storage;
using Xunit.Abstractions;

namespace Granary.Tests.Cluster.Foundation;

/// <summary>
/// The grain-state group-commit writer on a real PostgreSQL shard when a commit's answer is lost
/// (the transaction committed, the writer was told it failed) and when its loop meets any exception.
/// </summary>
[Collection(ServersCollection.Name)]
public sealed class GroupCommitStateWriterFaultTests(SharedServersFixture servers, ITestOutputHelper output) : IAsyncLifetime
{
    private const string StateName = "ambiguous-commit";
    private static readonly TimeSpan Deadline = TimeSpan.FromSeconds(30);
    private readonly RedisPostgresClusterFixture _cluster = new(servers);

    public Task InitializeAsync() => _cluster.InitializeAsync();

    public Task DisposeAsync() => _cluster.DisposeAsync();

    [Fact]
    public async Task A_batch_that_committed_unseen_reports_every_write_with_its_version()
    {
        var (writer, reader) = NewWriter();
        await using var _ = writer;
        const int Count = 40;
        var ids = Enumerable.Range(0, Count).Select(i => GrainId.Create("granary.test.ambiguous", $"batch-{Guid.NewGuid():N}-{i}")).ToList();
        var states = ids.Select((_, i) => new GrainState<string>("v0-" + i.ToString(CultureInfo.InvariantCulture))).ToList();

        // Half the rows exist already (their writes in the lost batch are updates), half do not (inserts).
        await Task.WhenAll(Enumerable.Range(0, Count / 2).Select(i => writer.WriteStateAsync(StateName, ids[i], states[i])));
        var lost = 0;
        writer.AfterCommit = writes => writes > 1 && Interlocked.Exchange(ref lost, 1) == 0
            ? throw new NpgsqlException("injected: connection lost after COMMIT was sent", new IOException("reset"))
            : ValueTask.CompletedTask;
        var writes = ids.Select((id, i) =>
        {
            states[i].State = "v1-" + i.ToString(CultureInfo.InvariantCulture);
            return writer.WriteStateAsync(StateName, id, states[i]);
        }).ToList();
        await Task.WhenAll(writes).WaitAsync(Deadline);
        output.WriteLine($"{writer.Writes} writes in {writer.Batches} transactions, one batch's answer lost");

        Assert.Equal(1, lost);
        for (var i = 0; i < Count; i++)
        {
            var read = new GrainState<string>();
            await reader.ReadStateAsync(StateName, ids[i], read);
            Assert.Equal(states[i].State, read.State);
            Assert.Equal(states[i].ETag, read.ETag);
            Assert.Equal(i < Count / 2 ? "2" : "1", read.ETag);
        }
    }

    [Fact]
    public async Task A_write_whose_answer_was_lost_fails_and_writing_the_same_state_again_finds_it_applied()
    {
        var (writer, reader) = NewWriter();
        await using var _ = writer;
        var id = GrainId.Create("granary.test.ambiguous", "single-" + Guid.NewGuid().ToString("N"));
        var lost = 0;
        writer.AfterCommit = _ => Interlocked.Exchange(ref lost, 1) == 0
            ? throw new NpgsqlException("injected: connection lost after COMMIT was sent", new IOException("reset"))
            : ValueTask.CompletedTask;
        var state = new GrainState<string>("first");

        // What the caller sees: an error, its ETag unchanged; the row is stored all the same.
        await Assert.ThrowsAsync<NpgsqlException>(() => writer.WriteStateAsync(StateName, id, state).WaitAsync(Deadline));
        Assert.Null(state.ETag);
        var stored = new GrainState<string>();
        await reader.ReadStateAsync(StateName, id, stored);
        Assert.Equal("first", stored.State);

        // Writing the same state again is that write, already applied: not a conflict.
        await writer.WriteStateAsync(StateName, id, state).WaitAsync(Deadline);
        Assert.Equal(stored.ETag, state.ETag);

        // Other content on the ETag the lost write replaced is a conflict, as from any other writer.
        var other = new GrainState<string>("other");
        await Assert.ThrowsAsync<InconsistentStateException>(() => writer.WriteStateAsync(StateName, id, other).WaitAsync(Deadline));
        await reader.ReadStateAsync(StateName, id, stored);
        Assert.Equal("first", stored.State);
    }

    [Fact]
    public async Task Any_exception_in_the_writer_fails_that_write_and_the_next_write_completes()
    {
        var (writer, reader) = NewWriter();
        await using var _ = writer;
        var thrown = 0;
        writer.AfterCommit = _ => Interlocked.Exchange(ref thrown, 1) == 0 ? throw new OutOfMemoryException("injected") : ValueTask.CompletedTask;
        var first = GrainId.Create("granary.test.ambiguous", "oom-a-" + Guid.NewGuid().ToString("N"));
        var second = GrainId.Create("granary.test.ambiguous", "oom-b-" + Guid.NewGuid().ToString("N"));

        await Assert.ThrowsAsync<OutOfMemoryException>(() => writer.WriteStateAsync(StateName, first, new GrainState<string>("a")).WaitAsync(Deadline));
        var next = new GrainState<string>("b");
        await writer.WriteStateAsync(StateName, second, next).WaitAsync(Deadline);

        var read = new GrainState<string>();
        await reader.ReadStateAsync(StateName, second, read);
        Assert.Equal("b", read.State);
        Assert.Equal(next.ETag, read.ETag);
    }

    /// <summary>A writer of its own on shard 0 (so no other grain's write meets the injected faults), and that shard's provider to read back.</summary>
    private (GroupCommitStateWriter Writer, IGrainStorage Reader) NewWriter()
    {
        var provider = _cluster.ShardStorage(0);
        var writer = new GroupCommitStateWriter(_cluster.Shards[0], provider, StorageNames.Shard(0), "granary-test", inFlight: 1, maxBatch: 256);
        return (writer, provider);
    }
}
