using Granary.Locks;
using Granary.Server.Storage;
using Granary.Tests.Cluster.Infrastructure;
using Microsoft.Extensions.DependencyInjection;
using Npgsql;
using Orleans.Storage;
using Orleans.TestingHost;

namespace Granary.Tests.Cluster.Foundation;

/// <summary>
/// Grain state goes to the shards in Orleans' binary form behind a format byte, and a row stored as
/// JSON (how states were stored before) is still read, and stored in the binary form at its next write.
/// </summary>
[Collection(ServersCollection.Name)]
public sealed class GrainStateFormatTests(SharedServersFixture servers) : IAsyncLifetime
{
    private const string StateName = "format-test";
    private readonly RedisPostgresClusterFixture _cluster = new(servers) { Silos = 1 };

    public Task InitializeAsync() => _cluster.InitializeAsync();

    public Task DisposeAsync() => _cluster.DisposeAsync();

    [Fact]
    public async Task A_state_is_stored_in_the_binary_form_and_read_back_whole()
    {
        var storage = _cluster.ShardStorage(0);
        var id = GrainId.Create("granary.test.format", "binary-" + Guid.NewGuid().ToString("N"));
        var written = new GrainState<LockState>(Sample(41));
        await storage.WriteStateAsync(StateName, id, written);

        var payload = await PayloadAsync(id);
        var json = LegacyJson().Serialize(written.State).ToArray();
        Assert.Equal(GrainStateFormat.Binary, payload[0]);
        Assert.True(payload.Length * 2 < json.Length, $"the binary form takes {payload.Length} bytes against the JSON's {json.Length}");

        var read = new GrainState<LockState>();
        await storage.ReadStateAsync(StateName, id, read);
        Assert.True(read.RecordExists);
        Assert.Equal(written.ETag, read.ETag);
        AssertSame(written.State, read.State);
    }

    [Fact]
    public async Task A_row_stored_as_json_is_read_and_its_next_write_is_binary()
    {
        var storage = _cluster.ShardStorage(0);
        var id = GrainId.Create("granary.test.format", "legacy-" + Guid.NewGuid().ToString("N"));
        await storage.WriteStateAsync(StateName, id, new GrainState<LockState>(Sample(1)));

        // The row as an earlier version stored it: Newtonsoft JSON with type names.
        var legacy = Sample(77);
        var json = LegacyJson().Serialize(legacy).ToArray();
        Assert.Equal((byte)'{', json[0]);
        await using (var source = NpgsqlDataSource.Create(_cluster.Shards[0]))
        await using (var update = source.CreateCommand("UPDATE granary_grain_state SET payload = $1 WHERE grain_type = $2 AND grain_id_extension = $3"))
        {
            update.Parameters.Add(new NpgsqlParameter { Value = json });
            update.Parameters.Add(new NpgsqlParameter { Value = StateName });
            update.Parameters.Add(new NpgsqlParameter { Value = id.Key.ToString() });
            Assert.Equal(1, await update.ExecuteNonQueryAsync());
        }

        var read = new GrainState<LockState>();
        await storage.ReadStateAsync(StateName, id, read);
        AssertSame(legacy, read.State);

        read.State!.LastToken++;
        await storage.WriteStateAsync(StateName, id, read);
        Assert.Equal(GrainStateFormat.Binary, (await PayloadAsync(id))[0]);
        var again = new GrainState<LockState>();
        await storage.ReadStateAsync(StateName, id, again);
        AssertSame(read.State, again.State);
    }

    private static LockState Sample(long token) => new()
    {
        LastToken = token,
        Permits = 1,
        Holders =
        [
            new LeaseRecord
            {
                Owner = "worker-7",
                RequestId = "7d47951cead67632000000" + token.ToString("x10", System.Globalization.CultureInfo.InvariantCulture),
                Token = token,
                Access = LockAccess.Shared,
                GrantedAt = new DateTimeOffset(2026, 12, 3, 17, 12, 18, TimeSpan.Zero).AddTicks(token),
                ExpiresAt = new DateTimeOffset(2026, 12, 3, 17, 12, 48, TimeSpan.Zero).AddTicks(token),
                Ttl = TimeSpan.FromSeconds(30),
            },
        ],
    };

    private static void AssertSame(LockState? expected, LockState? actual)
    {
        Assert.NotNull(expected);
        Assert.NotNull(actual);
        Assert.Equal(expected.LastToken, actual.LastToken);
        Assert.Equal(expected.Permits, actual.Permits);
        Assert.Equal(expected.Epoch, actual.Epoch);
        var e = Assert.Single(expected.Holders);
        var a = Assert.Single(actual.Holders);
        Assert.Equal((e.Owner, e.RequestId, e.Token, e.Access, e.GrantedAt, e.ExpiresAt, e.Ttl), (a.Owner, a.RequestId, a.Token, a.Access, a.GrantedAt, a.ExpiresAt, a.Ttl));
    }

    // Orleans' default grain-storage serializer, from the silo: what every row was stored with before.
    private IGrainStorageSerializer LegacyJson() =>
        ((InProcessSiloHandle)_cluster.Cluster.Silos[0]).SiloHost.Services.GetRequiredService<IGrainStorageSerializer>();

    private async Task<byte[]> PayloadAsync(GrainId id)
    {
        await using var source = NpgsqlDataSource.Create(_cluster.Shards[0]);
        await using var select = source.CreateCommand("SELECT payload FROM granary_grain_state WHERE grain_type = $1 AND grain_id_extension = $2");
        select.Parameters.Add(new NpgsqlParameter { Value = StateName });
        select.Parameters.Add(new NpgsqlParameter { Value = id.Key.ToString() });
        return (byte[])(await select.ExecuteScalarAsync() ?? throw new InvalidOperationException("no row"));
    }
}
