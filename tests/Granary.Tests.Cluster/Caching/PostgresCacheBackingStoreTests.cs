using Granary.Caching;
using Granary.Hosting.Caching;
using Granary.Tests.Cluster.Infrastructure;
using Xunit.Abstractions;

namespace Granary.Tests.Cluster.Caching;

/// <summary>The PostgreSQL backing store on its own, against the shared real server.</summary>
[Collection(ServersCollection.Name)]
public sealed class PostgresCacheBackingStoreTests(SharedServersFixture servers, ITestOutputHelper output)
{
    [Fact]
    public async Task A_table_creation_that_failed_is_tried_again_by_the_next_call()
    {
        // The database does not exist yet: creating the table fails.
        var database = "backing_retry_" + Guid.NewGuid().ToString("N")[..8];
        await using var store = new PostgresCacheBackingStore(servers.Postgres.ConnectionString(database));
        var first = await Assert.ThrowsAnyAsync<Exception>(() => store.LoadAsync("products", "sku:1", CancellationToken.None));
        output.WriteLine($"before the database existed: {first.GetType().Name}: {first.Message}");

        await servers.Postgres.CreateDatabaseAsync(database);
        Assert.Null(await store.LoadAsync("products", "sku:1", CancellationToken.None));
        Assert.Equal(new BackingWriteResult(true, 1), await store.WriteAsync("products", "sku:1", "apples", 1, CancellationToken.None));
        Assert.Equal(new BackingRecord("apples", 1), await store.LoadAsync("products", "sku:1", CancellationToken.None));
    }

    [Fact]
    public async Task A_caller_that_gives_up_does_not_cancel_the_table_creation_for_the_others()
    {
        var database = "backing_cancel_" + Guid.NewGuid().ToString("N")[..8];
        await servers.Postgres.CreateDatabaseAsync(database);
        await using var store = new PostgresCacheBackingStore(servers.Postgres.ConnectionString(database));
        using var cancelled = new CancellationTokenSource();
        await cancelled.CancelAsync();
        await Assert.ThrowsAnyAsync<OperationCanceledException>(() => store.LoadAsync("products", "sku:1", cancelled.Token));
        Assert.Null(await store.LoadAsync("products", "sku:1", CancellationToken.None));
    }
}
