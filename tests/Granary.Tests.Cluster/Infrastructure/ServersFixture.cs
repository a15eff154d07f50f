namespace Granary.Tests.Cluster.Infrastructure;

/// <summary>
/// One private Redis and one private PostgreSQL server for the whole test run, shared by
/// every test class in the <see cref="ServersCollection"/>.
/// </summary>
/// <remarks>
/// PostgreSQL runs with <c>fsync=off</c>: tests need speed, not crash safety of the
/// machine. Give each test class its own database (<see cref="PostgresServer.CreateDatabaseAsync"/>)
/// and its own ServiceId/ClusterId in Redis so that classes do not see each other's data.
/// <code>
/// [Collection(ServersCollection.Name)]
/// public sealed class LeaseTests(SharedServersFixture servers) { ... servers.Redis.ConnectionString ... }
/// </code>
/// </remarks>
public sealed class SharedServersFixture : IAsyncLifetime
{
    private RedisServer? _redis;
    private PostgresServer? _postgres;

    /// <summary>The shared Redis server.</summary>
    public RedisServer Redis => _redis ?? throw new InvalidOperationException("The servers fixture has not been initialised.");

    /// <summary>The shared PostgreSQL server.</summary>
    public PostgresServer Postgres => _postgres ?? throw new InvalidOperationException("The servers fixture has not been initialised.");

    /// <summary>Starts both servers concurrently; if either fails, stops the other and rethrows.</summary>
    public async Task InitializeAsync()
    {
        var redis = RedisServer.StartAsync();
        var postgres = PostgresServer.StartAsync(durable: false);
        try
        {
            await Task.WhenAll(redis, postgres);
        }
        catch
        {
            if (redis.IsCompletedSuccessfully)
            {
                await redis.Result.DisposeAsync();
            }

            if (postgres.IsCompletedSuccessfully)
            {
                await postgres.Result.DisposeAsync();
            }

            throw;
        }

        _redis = redis.Result;
        _postgres = postgres.Result;
    }

    /// <summary>Stops both servers and deletes their directories.</summary>
    public async Task DisposeAsync()
    {
        if (_redis is not null)
        {
            await _redis.DisposeAsync();
        }

        if (_postgres is not null)
        {
            await _postgres.DisposeAsync();
        }
    }
}

/// <summary>The xunit collection whose test classes share one <see cref="SharedServersFixture"/>.</summary>
[CollectionDefinition(Name)]
public sealed class ServersCollection : ICollectionFixture<SharedServersFixture>
{
    /// <summary>The collection name, for <c>[Collection(ServersCollection.Name)]</c>.</summary>
    public const string Name = "servers";
}
