using Granary.Caching;
using Granary.Client.Caching;
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

    /// <summary>Commands the random workload leaves out: whole-keyspace ones, OBJECT (its answer depends on history in Redis) and the commands redis-server 7.0 lacks (GETS/CAS, DELIFEQ/PEXPIREIFEQ: tested against the scripts they replace; the memcached endpoint's MC* commands: tested against memcached).</summary>
    private static readonly HashSet<string> NotGenerated = new(["SCAN", "KEYS", "DBSIZE", "FLUSHALL", "FLUSHDB", "PING", "GETS", "CAS", "OBJECT", "DELIFEQ", "PEXPIREIFEQ", "MCGET", "MCGAT", "MCSTORE", "MCINCR", "MCTOUCH", "MCMETAGET", "MCMETASTORE", "MCDELETE", "MCARITH"], StringComparer.Ordinal);

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
        await CompareAsync("cache grains", db, command => cache.ExecuteAsync(command), seed: 20260202, SpansShards(cache));
    }

    [Fact]
    public async Task Engine_and_cache_grains_match_redis_at_the_edges_of_number_rules()
    {
        await using var redis = await ConnectionMultiplexer.ConnectAsync(servers.Redis.ConnectionString + ",allowAdmin=true");
        var db = redis.GetDatabase(RedisDatabase);
        var engine = new CacheKeyspace(new CacheKeyspaceOptions(), TimeProvider.System);
        await using var cache = await CacheClient.ConnectAsync(cluster.Grains, "differential-edges-" + Guid.NewGuid().ToString("N"));
        foreach (var (system, execute) in new (string, Func<string[], Task<CacheReply>>)[] { ("engine", c => Task.FromResult(engine.Execute(c))), ("cache grains", c => cache.ExecuteAsync(c)) })
        {
            await db.ExecuteAsync("FLUSHDB");
            var commands = RedisDifferential.EdgeCases();
            var mismatches = new List<string>();
            var errors = 0;
            foreach (var command in commands)
            {
                var (difference, theirs) = await RedisDifferential.CompareAsync(db, command, execute, system == "engine" ? null : SpansShards(cache));
                errors += theirs is { IsError: true } ? 1 : 0;
                if (difference is not null)
                {
                    mismatches.Add($"{string.Join(' ', command)} => {difference}");
                }
            }

            var keysOurs = (await execute(["KEYS", "*"])).Items!.Select(r => r.Text!).Order(StringComparer.Ordinal).ToList();
            var keysTheirs = ((RedisResult[])(await db.ExecuteAsync("KEYS", "*"))!).Select(r => (string)r!).Order(StringComparer.Ordinal).ToList();
            output.WriteLine($"{system}: compared {commands.Count} edge-case operations with redis-server ({errors} of them error replies), {mismatches.Count} mismatches; final keyspace {keysOurs.Count} keys vs {keysTheirs.Count}");
            foreach (var mismatch in mismatches.Take(25))
            {
                output.WriteLine(mismatch);
            }

            Assert.Empty(mismatches);
            Assert.Equal(keysTheirs, keysOurs);
            Assert.Equal(0, engine.Faults);
        }
    }

    /// <summary>
    /// KEYS and SCAN MATCH select the same keys as redis-server for seeded random patterns full of stars,
    /// classes, ranges, escapes, unterminated classes and a two-byte character (matching is byte-wise).
    /// </summary>
    [Fact]
    public async Task Engine_and_cache_grains_match_keys_patterns_like_redis()
    {
        await using var redis = await ConnectionMultiplexer.ConnectAsync(servers.Redis.ConnectionString + ",allowAdmin=true");
        var db = redis.GetDatabase(RedisDatabase);
        await db.ExecuteAsync("FLUSHDB");
        var (keys, patterns) = RedisDifferential.GlobCases(seed: 20260316, keys: 300, patterns: 1500);
        var engine = new CacheKeyspace(new CacheKeyspaceOptions(), TimeProvider.System);
        await using var cache = await CacheClient.ConnectAsync(cluster.Grains, "differential-glob-" + Guid.NewGuid().ToString("N"));
        foreach (var key in keys)
        {
            await db.ExecuteAsync("SET", key, "v");
            engine.Execute("SET", key, "v");
            await cache.ExecuteAsync(["SET", key, "v"]);
        }

        foreach (var (system, execute) in new (string, Func<string[], Task<CacheReply>>)[] { ("engine", c => Task.FromResult(engine.Execute(c))), ("cache grains", c => cache.ExecuteAsync(c)) })
        {
            var mismatches = new List<string>();
            var matched = 0L;
            foreach (var pattern in patterns)
            {
                var theirs = ((RedisResult[])(await db.ExecuteAsync("KEYS", pattern))!).Select(r => (string)r!).Order(StringComparer.Ordinal).ToList();
                var ours = (await execute(["KEYS", pattern])).Items!.Select(r => r.Text!).Order(StringComparer.Ordinal).ToList();
                var scanned = await ScanAllAsync(execute, pattern);
                matched += theirs.Count;
                if (!theirs.SequenceEqual(ours, StringComparer.Ordinal) || !theirs.SequenceEqual(scanned, StringComparer.Ordinal))
                {
                    mismatches.Add($"KEYS {pattern}: redis [{string.Join(' ', theirs)}] granary KEYS [{string.Join(' ', ours)}] SCAN [{string.Join(' ', scanned)}]");
                }
            }

            output.WriteLine($"{system}: {patterns.Count} patterns over {keys.Count} keys compared with redis-server ({matched} keys selected in all), {mismatches.Count} mismatches");
            foreach (var mismatch in mismatches.Take(25))
            {
                output.WriteLine(mismatch);
            }

            Assert.Empty(mismatches);
            Assert.True(matched > keys.Count, "the patterns should select keys");
        }
    }

    private static async Task<List<string>> ScanAllAsync(Func<string[], Task<CacheReply>> execute, string pattern)
    {
        var found = new List<string>();
        var cursor = "0";
        do
        {
            var reply = await execute(["SCAN", cursor, "MATCH", pattern, "COUNT", "1000"]);
            cursor = reply.Items![0].Text!;
            found.AddRange(reply.Items[1].Items!.Select(r => r.Text!));
        }
        while (cursor != "0");

        return [.. found.Distinct(StringComparer.Ordinal).Order(StringComparer.Ordinal)];
    }

    /// <summary>
    /// Coalesced-batch isolation: bad commands sent at the same moment as other callers' writes travel
    /// in the same grain calls, and must fail (or succeed) alone: every SET is acknowledged and stored,
    /// and each bad command gets the answer redis-server gives it. Whether a burst is coalesced depends
    /// on the scheduler (a sending thread paused while a call's answer comes back lets the next command
    /// go alone), so bursts are repeated, each one checked in full, until one was coalesced; the test
    /// fails when none of them was.
    /// </summary>
    [Theory]
    [InlineData(CachePersistence.Volatile)]
    [InlineData(CachePersistence.WriteThrough)]
    public async Task Coalesced_batch_isolation_one_callers_bad_command_fails_no_other_callers_write(CachePersistence persistence)
    {
        const int Sets = 400;
        const int BadCommands = 8;
        const int MaxBursts = 5;
        const string Min = "-9223372036854775808";
        await using var redis = await ConnectionMultiplexer.ConnectAsync(servers.Redis.ConnectionString + ",allowAdmin=true");
        var db = redis.GetDatabase(RedisDatabase);
        await db.ExecuteAsync("FLUSHDB");
        await using var cache = await CacheClient.CreateAsync(cluster.Grains, "isolation-" + Guid.NewGuid().ToString("N"), 2, new CacheSettings(persistence));
        static string Number(int i) => i.ToString(System.Globalization.CultureInfo.InvariantCulture);
        static string Value(int i) => "value-" + Number(i);
        var bursts = new List<string>();
        for (var burst = 0; burst < MaxBursts; burst++)
        {
            string List(int i) => $"iso:{Number(burst)}:list:{Number(i)}";
            string Key(int i) => $"iso:{Number(burst)}:key:{Number(i)}";
            var expected = new CacheReply[BadCommands];
            for (var i = 0; i < BadCommands; i++)
            {
                string[] push = ["RPUSH", List(i), "a", "b", "a"];
                Assert.Equal(await RedisDifferential.ExecuteOnRedisAsync(db, push), await cache.ExecuteAsync(push));
                expected[i] = await RedisDifferential.ExecuteOnRedisAsync(db, ["LREM", List(i), Min, "a"]);
            }

            // Everything is sent before any answer arrives: the client coalesces each shard's commands into
            // a few grain calls, and the bad commands (every 50th) share those calls with the SETs.
            var (callsBefore, commandsBefore) = cache.BatchingCounters;
            var sets = new List<Task<(CacheReply? Reply, Exception? Error)>>();
            var bad = new List<Task<(CacheReply? Reply, Exception? Error)>>();
            for (var i = 0; i < Sets; i++)
            {
                if (i % 50 == 25)
                {
                    bad.Add(OutcomeAsync(cache.ExecuteAsync(["LREM", List(i / 50), Min, "a"])));
                }

                sets.Add(OutcomeAsync(cache.ExecuteAsync(["SET", Key(i), Value(i)])));
            }

            var setOutcomes = await Task.WhenAll(sets);
            var badOutcomes = await Task.WhenAll(bad);
            var (callsAfter, commandsAfter) = cache.BatchingCounters;
            var (calls, commands) = (callsAfter - callsBefore, commandsAfter - commandsBefore);
            var stored = (await cache.ExecuteAsync(["MGET", .. Enumerable.Range(0, Sets).Select(Key)])).Items!;
            var storedCount = Enumerable.Range(0, Sets).Count(i => stored[i].Text == Value(i));
            var acknowledged = setOutcomes.Count(o => o.Reply == CacheReply.Ok);
            var failed = setOutcomes.Where(o => o.Reply != CacheReply.Ok).ToList();
            var answers = badOutcomes.Select(o => o.Reply?.ToString() ?? o.Error!.GetType().Name).ToList();
            bursts.Add($"{calls} calls for {commands} commands");
            output.WriteLine($"{persistence}, burst {burst + 1}: {Sets} SETs and {BadCommands} 'LREM list {Min} a' sent at once to 2 shards in {calls} grain calls ({commands} commands, {commands / (double)calls:F1} per call)");
            output.WriteLine($"SETs acknowledged {acknowledged} of {Sets}, failed {failed.Count} ({string.Join(", ", failed.Select(o => o.Error?.GetType().Name ?? o.Reply!.ToString()).Distinct().Take(3))}), stored {storedCount} of {Sets}");
            output.WriteLine($"LREM answers: {string.Join(", ", answers.GroupBy(a => a).Select(g => $"{g.Key} x{g.Count()}"))}; redis-server: {string.Join(", ", expected.Select(e => e.ToString()).GroupBy(a => a).Select(g => $"{g.Key} x{g.Count()}"))}");

            Assert.Equal(Sets, acknowledged);
            Assert.Equal(Sets, storedCount);
            Assert.Equal(expected, badOutcomes.Select(o => o.Reply).ToArray());
            for (var i = 0; i < BadCommands; i++)
            {
                Assert.Equal(await RedisDifferential.ExecuteOnRedisAsync(db, ["LRANGE", List(i), "0", "-1"]), await cache.ExecuteAsync(["LRANGE", List(i), "0", "-1"]));
            }

            if (calls <= commands / 10)
            {
                return;
            }
        }

        Assert.Fail($"no burst of {MaxBursts} was coalesced (at least 10 commands per call), so the test proves nothing: {string.Join("; ", bursts)}");
    }

    private static async Task<(CacheReply? Reply, Exception? Error)> OutcomeAsync(Task<CacheReply> reply)
    {
        try
        {
            return (await reply, null);
        }
        catch (Exception ex)
        {
            return (null, ex);
        }
    }

    /// <summary>True when a command's keys live on more than one of <paramref name="cache"/>'s shards.</summary>
    private static Func<string[], bool> SpansShards(CacheClient cache)
    {
        var map = cache.Definition.BuildMap();
        return command => CacheCommandTable.Resolve(command)!.Keys(command).Select(map.ShardOf).Distinct().Count() > 1;
    }

    private async Task CompareAsync(string system, IDatabase db, Func<string[], Task<CacheReply>> execute, int seed, Func<string[], bool>? spansShards = null)
    {
        var commands = RedisDifferential.Generate(seed, Operations);
        var commandsSeen = new HashSet<string>(StringComparer.Ordinal);
        var mismatches = new List<string>();
        var errors = 0;
        var kinds = new Dictionary<string, int>(StringComparer.Ordinal);
        foreach (var command in commands)
        {
            var (difference, theirs) = await RedisDifferential.CompareAsync(db, command, execute, spansShards);
            errors += theirs is { IsError: true } ? 1 : 0;
            var kind = theirs is null ? "CROSSSLOT (keys on several shards)" : theirs.IsError ? theirs.Text!.Split(' ')[0] + " " + (theirs.Text.Contains("WRONGTYPE", StringComparison.Ordinal) ? "wrongtype" : "other") : theirs.Kind.ToString();
            kinds[kind] = kinds.GetValueOrDefault(kind) + 1;
            commandsSeen.Add(command[0].ToUpperInvariant());
            if (difference is not null)
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
        Assert.Empty(CacheCommandTable.Commands.Keys.Where(c => !commandsSeen.Contains(c) && !NotGenerated.Contains(c)).Order(StringComparer.Ordinal));
        Assert.True(errors > 100 && errors < commands.Count / 2, "the workload should exercise error replies");
    }
}
