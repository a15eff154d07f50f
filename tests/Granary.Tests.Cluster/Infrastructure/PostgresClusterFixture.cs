using Granary.Tests.Cluster.Transactions;
using Orleans.TestingHost;

namespace Granary.Tests.Cluster.Infrastructure;

/// <summary>
/// The PostgreSQL backend of the family scenario classes: three in-process silos clustered through a
/// real Redis, grain state on three real PostgreSQL shards, with the transaction timeouts of
/// <see cref="TransactionsClusterFixture"/>. Its Redis and PostgreSQL servers are its own, started
/// once for the <see cref="PostgresClusterCollection"/> and stopped at its end.
/// </summary>
/// <remarks>
/// A family's scenarios are written once in an abstract class and run on each backend by a one-line
/// subclass per backend, named for it:
/// <code>
/// [Collection(FastClusterCollection.Name)]
/// public sealed class LockScenariosOnMemory(FastClusterFixture cluster, ITestOutputHelper output) : LockScenarios(cluster, output);
///
/// [Collection(PostgresClusterCollection.Name)]
/// public sealed class LockScenariosOnPostgres(PostgresClusterFixture cluster, ITestOutputHelper output) : LockScenarios(cluster, output);
/// </code>
/// </remarks>
public sealed class PostgresClusterFixture : GranaryTestClusterFixture
{
    private readonly SharedServersFixture _servers = new();

    /// <summary>Starts the servers, then deploys the cluster; stops the servers if the cluster does not start.</summary>
    public override async Task InitializeAsync()
    {
        await _servers.InitializeAsync();
        try
        {
            await base.InitializeAsync();
        }
        catch
        {
            await _servers.DisposeAsync();
            throw;
        }
    }

    /// <summary>Stops the cluster, then the servers.</summary>
    public override async Task DisposeAsync()
    {
        try
        {
            await base.DisposeAsync();
        }
        finally
        {
            await _servers.DisposeAsync();
        }
    }

    /// <inheritdoc/>
    protected override Task ConfigureAsync(TestClusterBuilder builder)
    {
        RedisPostgresClusterFixture.UseRedisAndPostgresShards(builder, _servers);
        TransactionsClusterFixture.UseShortTimeouts(builder);
        return Task.CompletedTask;
    }
}

/// <summary>The xunit collection whose scenario classes share one <see cref="PostgresClusterFixture"/>.</summary>
[CollectionDefinition(Name)]
public sealed class PostgresClusterCollection : ICollectionFixture<PostgresClusterFixture>
{
    /// <summary>The collection name, for <c>[Collection(PostgresClusterCollection.Name)]</c>.</summary>
    public const string Name = "postgres-cluster";
}
