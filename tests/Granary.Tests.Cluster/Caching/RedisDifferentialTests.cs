using Granary.Caching;
using Granary.Sdk.Caching;
using Granary.Tests.Cluster.Infrastructure;
using StackExchange.Redis;
using Xunit.Abstractions;

namespace Granary.Tests.Cluster.Caching;

/// <summary>The cache engine and real <c>redis-server</c> answer the same seeded command stream identically.</summary>
[Collection(ServersCollection.Name)]
public sealed class RedisDifferentialTests(SharedServersFixture servers, FastClusterFixture cluster, ITestOutputHelper output) : IClassFixture<FastClusterFixture>
{
    private const int Operations = 6000;
    private const int RedisDatabase = 7;

    [Fact]
    public async Task Engine_replies_match_redis_for_a_seeded_random_workload()
    {
        await using var redis = await ConnectionMultiplexer.ConnectAsync(servers.Redis.ConnectionString + ",allowAdmin=true");
        var db = redis.GetDatabase(RedisDatabase);
        await db.ExecuteAsync("FLUSHDB");
        var engine = new CacheKeyspace(new CacheKeyspaceOptions(), TimeProvider.System);
        await CompareAsync("engine", db, command => Task.FromResult(engine.Execute(command)), seed: 20260101);
    }

    [Fact]
    public async Task Cache_grains_through_the_client_match_redis_for_a_seeded_random_workload()
    {
        await using var redis = await ConnectionMultiplexer.ConnectAsync(servers.Redis.ConnectionString + ",allowAdmin=true");
        var db = redis.GetDatabase(RedisDatabase);
        await db.ExecuteAsync("FLUSHDB");
        await using var cache = await CacheClient.ConnectAsync(cluster.Grains, "differential-" + Guid.NewGuid().ToString("N"));
        output.WriteLine($"cache {cache.Name}: {cache.Definition.Shards} shards");
        await CompareAsync("cache grains", db, command => cache.ExecuteAsync(command), seed: 20260202);
    }

    private async Task CompareAsync(string system, IDatabase db, Func<string[], Task<CacheReply>> execute, int seed)
    {
        var commands = RedisDifferential.Generate(seed, Operations);
        var mismatches = new List<string>();
        var errors = 0;
        var kinds = new Dictionary<string, int>(StringComparer.Ordinal);
        foreach (var command in commands)
        {
            var ours = await execute(command);
            var theirs = await RedisDifferential.ExecuteOnRedisAsync(db, command);
            errors += theirs.IsError ? 1 : 0;
            var kind = theirs.IsError ? theirs.Text!.Split(' ')[0] + " " + (theirs.Text.Contains("WRONGTYPE", StringComparison.Ordinal) ? "wrongtype" : "other") : theirs.Kind.ToString();
            kinds[kind] = kinds.GetValueOrDefault(kind) + 1;
            if (RedisDifferential.Difference(command, ours, theirs) is { } difference)
            {
                mismatches.Add($"{string.Join(' ', command)} => {difference}");
            }
        }

        var keysOurs = (await execute(["KEYS", "*"])).Items!.Select(r => r.Text!).Order(StringComparer.Ordinal).ToList();
        var keysTheirs = ((RedisResult[])(await db.ExecuteAsync("KEYS", "*"))!).Select(r => (string)r!).Order(StringComparer.Ordinal).ToList();

        output.WriteLine($"{system}: compared {commands.Count} operations with redis-server ({errors} of them error replies), {mismatches.Count} mismatches; final keyspace {keysOurs.Count} keys vs {keysTheirs.Count}");
        output.WriteLine("replies by kind: " + string.Join(", ", kinds.OrderBy(p => p.Key, StringComparer.Ordinal).Select(p => $"{p.Key} {p.Value}")));
        foreach (var mismatch in mismatches.Take(25))
        {
            output.WriteLine(mismatch);
        }

        Assert.Empty(mismatches);
        Assert.Equal(keysTheirs, keysOurs);
        Assert.True(errors > 100 && errors < commands.Count / 2, "the workload should exercise error replies");
    }
}
