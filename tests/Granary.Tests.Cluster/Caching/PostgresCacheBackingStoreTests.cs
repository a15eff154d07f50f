using Granary.Caching;
using Granary.Errors;
using Granary.Server.Caching;
using Granary.Tests.Cluster.Infrastructure;
using Npgsql;
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

    [Theory]
    [InlineData("select")]
    [InlineData("user")]
    [InlineData("order")]
    [InlineData("products")]
    public async Task Reserved_words_are_quoted_and_every_table_lives_in_the_cache_schema(string table)
    {
        var database = "backing_names_" + Guid.NewGuid().ToString("N")[..8];
        await servers.Postgres.CreateDatabaseAsync(database);
        await using var store = new PostgresCacheBackingStore(servers.Postgres.ConnectionString(database));

        Assert.Equal(new BackingWriteResult(true, 1), await store.WriteAsync(table, "sku:1", "apples", 1, CancellationToken.None));
        Assert.Equal(new BackingRecord("apples", 1), await store.LoadAsync(table, "sku:1", CancellationToken.None));

        await using var connection = new NpgsqlConnection(servers.Postgres.ConnectionString(database));
        await connection.OpenAsync();
        await using var query = new NpgsqlCommand("SELECT table_schema FROM information_schema.tables WHERE table_name = @name", connection);
        query.Parameters.AddWithValue("name", table);
        var schemas = new List<string>();
        await using (var reader = await query.ExecuteReaderAsync())
        {
            while (await reader.ReadAsync())
            {
                schemas.Add(reader.GetString(0));
            }
        }

        output.WriteLine($"backing table '{table}' is {PostgresCacheBackingStore.QualifiedName(table)}; found in schemas [{string.Join(", ", schemas)}]");
        Assert.Equal([PostgresCacheBackingStore.Schema], schemas);
    }

    [Theory]
    [InlineData("pg_class")]
    [InlineData("pg_authid")]
    [InlineData("Products")]
    [InlineData("products; drop table x")]
    [InlineData("\"products\"")]
    [InlineData("")]
    public async Task Catalog_and_malformed_names_are_refused_with_a_typed_error_before_any_sql(string table)
    {
        var database = "backing_refused_" + Guid.NewGuid().ToString("N")[..8];
        await servers.Postgres.CreateDatabaseAsync(database);
        await using var store = new PostgresCacheBackingStore(servers.Postgres.ConnectionString(database));

        var read = await Assert.ThrowsAsync<InvalidRequestException>(() => store.LoadAsync(table, "sku:1", CancellationToken.None));
        var write = await Assert.ThrowsAsync<InvalidRequestException>(() => store.WriteAsync(table, "sku:1", "apples", 1, CancellationToken.None));
        output.WriteLine($"'{table}': {read.Code}: {read.Message}");

        Assert.Equal(ErrorCodes.InvalidArgument, write.Code);
        await using var connection = new NpgsqlConnection(servers.Postgres.ConnectionString(database));
        await connection.OpenAsync();
        await using var query = new NpgsqlCommand("SELECT count(*) FROM pg_namespace WHERE nspname = @schema", connection);
        query.Parameters.AddWithValue("schema", PostgresCacheBackingStore.Schema);
        Assert.Equal(0L, (long)(await query.ExecuteScalarAsync())!);
    }
}
