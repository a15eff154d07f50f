using Granary.Bench;

namespace Granary.Tests.Unit.Bench;

/// <summary>The bench's checkpoint before each run: one per PostgreSQL server, and a refusal does not stop the run.</summary>
public sealed class PostgresCheckpointTests
{
    [Fact]
    public void Each_server_is_checkpointed_once_whatever_the_database()
    {
        var servers = PostgresCheckpoint.Servers(
        [
            "Host=127.0.0.1;Port=5432;Username=postgres;Database=granary_shard_0",
            "Host=127.0.0.1;Port=5432;Username=postgres;Database=granary_shard_1",
            "Host=127.0.0.1;Port=5433;Username=postgres;Database=peer",
            "Host=other;Port=5432;Database=granary_shard_2",
        ]);

        Assert.Equal(
        [
            "Host=127.0.0.1;Port=5432;Username=postgres;Database=granary_shard_0",
            "Host=127.0.0.1;Port=5433;Username=postgres;Database=peer",
            "Host=other;Port=5432;Database=granary_shard_2",
        ], servers);
        Assert.Empty(PostgresCheckpoint.Servers([]));
    }

    [Fact]
    public async Task A_server_that_cannot_be_checkpointed_is_named_and_the_run_goes_on()
    {
        // Nothing listens on port 1 of loopback: the connection is refused.
        var line = await PostgresCheckpoint.RunAsync(["Host=127.0.0.1;Port=1;Username=postgres;Timeout=5"], CancellationToken.None);

        Assert.StartsWith("checkpoint: postgres:1 not checkpointed (", line, StringComparison.Ordinal);
    }
}
