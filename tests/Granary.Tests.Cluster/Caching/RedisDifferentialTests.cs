using Granary.Caching;
using Granary.Tests.Cluster.Infrastructure;
using StackExchange.Redis;
using Xunit.Abstractions;

namespace Granary.Tests.Cluster.Caching;

/// <summary>The cache engine and real <c>redis-server</c> answer the same seeded command stream identically.</summary>
[Collection(ServersCollection.Name)]
public sealed class RedisDifferentialTests(SharedServersFixture servers, ITestOutputHelper output)
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

        var commands = RedisDifferential.Generate(seed: 20260101, Operations);
        var mismatches = new List<string>();
        var errors = 0;
        var kinds = new Dictionary<string, int>(StringComparer.Ordinal);
        foreach (var command in commands)
        {
            var ours = engine.Execute(command);
            var theirs = await RedisDifferential.ExecuteOnRedisAsync(db, command);
            errors += theirs.IsError ? 1 : 0;
            var kind = theirs.IsError ? theirs.Text!.Split(' ')[0] + " " + (theirs.Text.Contains("WRONGTYPE", StringComparison.Ordinal) ? "wrongtype" : "other") : theirs.Kind.ToString();
            kinds[kind] = kinds.GetValueOrDefault(kind) + 1;
            if (RedisDifferential.Difference(command, ours, theirs) is { } difference)
            {
                mismatches.Add($"{string.Join(' ', command)} => {difference}");
            }
        }

        var keysOurs = engine.Execute("KEYS", "*").Items!.Select(r => r.Text!).Order(StringComparer.Ordinal).ToList();
        var keysTheirs = ((RedisResult[])(await db.ExecuteAsync("KEYS", "*"))!).Select(r => (string)r!).Order(StringComparer.Ordinal).ToList();

        output.WriteLine($"compared {commands.Count} operations with redis-server ({errors} of them error replies), {mismatches.Count} mismatches; final keyspace {keysOurs.Count} keys vs {keysTheirs.Count}");
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
