using System.Globalization;
using Granary.Caching;
using Granary.Client.Caching;

namespace Granary.Cli.Scenarios.Caching;

/// <summary><c>cache-basics</c>: Redis commands on a sharded cache: TTLs, counters, WRONGTYPE, hashes, lists, sorted sets, SCAN, stats.</summary>
public sealed class CacheBasicsScenario : IScenario
{
    /// <inheritdoc/>
    public string Name => "cache-basics";

    /// <inheritdoc/>
    public string Title => "A sharded cache that answers like Redis: TTLs, counters, types, errors, SCAN across shards";

    /// <inheritdoc/>
    public async Task<bool> RunAsync(ScenarioContext context, CancellationToken cancellationToken)
    {
        ArgumentNullException.ThrowIfNull(context);
        await using var cache = await CacheClient.ConnectAsync(context.Grains, "basics-" + Guid.NewGuid().ToString("N")[..8]);
        context.Say($"cache '{cache.Name}': {cache.Definition.Shards} shard grains, keys placed by a consistent-hash ring (version {cache.Definition.Version})");
        async Task<CacheReply> Run(CacheReply expected, params string[] command)
        {
            var reply = await cache.ExecuteAsync(command);
            var matches = expected.Equals(reply);
            context.Check(matches, $"> {string.Join(' ', command)}\n      {reply.ToString().ReplaceLineEndings("\n      ")}{(matches ? string.Empty : "   <-- expected " + expected)}");
            return reply;
        }

        await Run(CacheReply.Ok, "SET", "session:ada", "token-1", "EX", "60");
        await Run(CacheReply.Int(60), "TTL", "session:ada");
        await Run(CacheReply.Nil, "SET", "session:ada", "token-2", "NX");
        await Run(CacheReply.Int(1), "INCR", "page:views");
        await Run(CacheReply.Int(11), "INCRBY", "page:views", "10");
        await Run(CacheReply.Error(RedisText.NotInteger), "INCR", "session:ada");
        await Run(CacheReply.Int(2), "HSET", "sku:42", "name", "apples", "stock", "10");
        await Run(CacheReply.Int(7), "HINCRBY", "sku:42", "stock", "-3");
        await Run(CacheReply.Error(RedisText.WrongType), "LPUSH", "sku:42", "oops");
        await Run(CacheReply.Int(3), "RPUSH", "orders", "o1", "o2", "o3");
        await Run(CacheReply.Bulk("o1"), "LPOP", "orders");
        await Run(CacheReply.Int(3), "ZADD", "leaderboard", "120", "ada", "95", "bob", "130", "cy");
        await Run(CacheReply.BulkArray(["cy", "130", "ada", "120"]), "ZRANGE", "leaderboard", "0", "1", "REV", "WITHSCORES");
        await Run(CacheReply.Array([CacheReply.Bulk("token-1"), CacheReply.Bulk("11"), CacheReply.Nil]), "MGET", "session:ada", "page:views", "absent");

        for (var i = 0; i < 200; i++)
        {
            await cache.ExecuteAsync(["SET", "item:" + i.ToString(CultureInfo.InvariantCulture), "v"]);
        }

        var seen = new HashSet<string>(StringComparer.Ordinal);
        var cursor = "0";
        var calls = 0;
        do
        {
            var reply = await cache.ExecuteAsync(["SCAN", cursor, "MATCH", "item:*", "COUNT", "50"]);
            cursor = reply.Items![0].Text!;
            seen.UnionWith(reply.Items[1].Items!.Select(r => r.Text!));
            calls++;
        }
        while (cursor != "0");

        context.Check("scanKeys", seen.Count, seen.Count == 200, $"SCAN MATCH item:* across {cache.Definition.Shards} shards: {seen.Count} of 200 keys in {calls} calls (cursor = shard << 48 | position)");

        var stats = await cache.GetStatisticsAsync();
        context.Fact("hits", stats.Hits, $"stats: {stats.Keys} keys, {stats.Hits} hits, {stats.Misses} misses, {stats.UsedBytes:N0} bytes (estimated), {stats.Evictions} evictions, {stats.Expirations} expirations");
        return context.AllHeld;
    }
}
