using System.Globalization;
using Granary.Server.Storage;
using Granary.Tests.Cluster.Infrastructure;
using Microsoft.Extensions.Logging.Abstractions;
using Npgsql;
using Xunit.Abstractions;

namespace Granary.Tests.Cluster.Foundation;

/// <summary>
/// A state of a few kilobytes, rewritten often (a transaction participant with its recent outcomes),
/// stays in its row as written: PostgreSQL neither compresses each new version nor moves it to the
/// TOAST table, which is what made it spend about a fifth of its CPU per transfer there.
/// </summary>
[Collection(ServersCollection.Name)]
public sealed class GrainStateRowStorageTests(SharedServersFixture servers, ITestOutputHelper output) : IAsyncLifetime
{
    private static readonly TimeSpan Deadline = TimeSpan.FromSeconds(60);
    private readonly RedisPostgresClusterFixture _cluster = new(servers) { Silos = 1 };

    public Task InitializeAsync() => _cluster.InitializeAsync();

    public Task DisposeAsync() => _cluster.DisposeAsync();

    [Fact]
    public async Task States_of_a_few_kilobytes_are_stored_in_their_rows_uncompressed()
    {
        var connectionString = await _cluster.NewShardDatabaseAsync("rows");
        // Applying the schema again (every silo start does) keeps the setting and changes nothing.
        await PostgresShardInitializer.EnsureShardsAsync([connectionString], createDatabases: false, NullLogger.Instance, CancellationToken.None);

        var provider = _cluster.ShardStorage(0);
        // About 3 to 7 kB of outcome-like strings: compressible, and over PostgreSQL's default 2 kB threshold.
        var states = Enumerable.Range(0, 20)
            .Select(i => (Id: GrainId.Create("granary.test.rows", i.ToString(CultureInfo.InvariantCulture)), State: new GrainState<List<string>>(Outcomes(40 + (i * 3)))))
            .ToList();
        await using (var writer = new GroupCommitStateWriter(connectionString, provider, StorageNames.Shard(0), "granary-test", inFlight: 1, maxBatch: 256))
        {
            await Task.WhenAll(states.Select(s => writer.WriteStateAsync("rows", s.Id, s.State))).WaitAsync(Deadline);
            foreach (var (_, state) in states)
            {
                state.State!.Add("C1796281283026:7:debit 1tx-" + Guid.NewGuid().ToString("N"));
            }

            await Task.WhenAll(states.Select(s => writer.WriteStateAsync("rows", s.Id, s.State))).WaitAsync(Deadline);
        }

        await using var source = NpgsqlDataSource.Create(connectionString);
        await using var rows = source.CreateCommand(
            "SELECT count(*), min(octet_length(payload)), max(octet_length(payload)), count(*) FILTER (WHERE pg_column_size(payload) < octet_length(payload)) FROM granary_grain_state WHERE grain_type = 'rows'");
        await using var reader = await rows.ExecuteReaderAsync();
        Assert.True(await reader.ReadAsync());
        var (count, smallest, largest, compressed) = (reader.GetInt64(0), reader.GetInt32(1), reader.GetInt32(2), reader.GetInt64(3));
        await reader.DisposeAsync();
        await using var toast = source.CreateCommand(
            "SELECT (SELECT reloptions FROM pg_class WHERE oid = 'granary_grain_state'::regclass), pg_relation_size(reltoastrelid) FROM pg_class WHERE oid = 'granary_grain_state'::regclass");
        await using var toastReader = await toast.ExecuteReaderAsync();
        Assert.True(await toastReader.ReadAsync());
        var options = toastReader.GetFieldValue<string[]>(0);
        var toastBytes = toastReader.GetInt64(1);
        output.WriteLine($"{count} rows of {smallest}-{largest} payload bytes, {compressed} compressed; TOAST table {toastBytes} bytes; options {string.Join(", ", options)}");

        Assert.Equal(states.Count, count);
        Assert.True(smallest > 2_100, $"the smallest payload is {smallest} bytes, under the default threshold: the test shows nothing");
        Assert.Equal(0, compressed);
        Assert.Equal(0, toastBytes);
        Assert.Equal(["toast_tuple_target=8160"], options);
    }

    private static List<string> Outcomes(int count) =>
        [.. Enumerable.Range(0, count).Select(i => string.Create(CultureInfo.InvariantCulture, $"C{1796281283026 + i}:{7 + (i % 2)}:{(i % 2 == 0 ? "debit" : "credit")} {i % 9 + 1}tx-{Guid.NewGuid():N}"))];
}
