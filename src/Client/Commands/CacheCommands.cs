using System.CommandLine;
using System.Globalization;
using Granary.Caching;
using Granary.Cli.Cli;
using Granary.Client.Caching;

namespace Granary.Cli.Commands;

/// <summary><c>granary cache ...</c>: Redis commands against a named cache (<c>exec</c>) and everyday verbs mapped onto them.</summary>
public static class CacheCommands
{
    private static readonly Option<string> CacheName = new Option<string>("--cache")
    {
        Description = "Cache name",
        DefaultValueFactory = _ => "default",
        Recursive = true,
    }.Named();

    /// <summary>Builds the command tree.</summary>
    public static Command Create()
    {
        var cache = new Command("cache", "Sharded cache with Redis semantics: 'granary cache exec SET k v EX 10', or the verbs below") { CacheName };

        var words = new Argument<string[]>("command") { Description = "A Redis command and its arguments, e.g. SET k v EX 10", Arity = ArgumentArity.OneOrMore };
        var exec = new Command("exec", "Run any supported Redis command") { words };
        exec.SetHandler((parse, output, ct) => RunAsync(parse, output, parse.GetValue(words)!, ct));
        cache.Subcommands.Add(exec);

        cache.Subcommands.Add(Verb("get", "GET", "GET KEY: the value or (nil)", 1, 1));
        cache.Subcommands.Add(SetVerb());
        cache.Subcommands.Add(Verb("del", "DEL", "DEL KEY...: keys removed", 1, int.MaxValue));
        cache.Subcommands.Add(Verb("incr", "INCRBY", "INCR KEY [BY]: add BY (default 1) to an integer", 1, 2, args => args.Length == 1 ? [args[0], "1"] : args));
        cache.Subcommands.Add(Verb("expire", "EXPIRE", "EXPIRE KEY SECONDS", 2, 3));
        cache.Subcommands.Add(Verb("ttl", "TTL", "TTL KEY: seconds left, -1 none, -2 absent", 1, 1));
        cache.Subcommands.Add(Verb("hset", "HSET", "HSET KEY FIELD VALUE [FIELD VALUE...]", 3, int.MaxValue));
        cache.Subcommands.Add(Verb("hgetall", "HGETALL", "HGETALL KEY", 1, 1));
        cache.Subcommands.Add(Verb("lpush", "LPUSH", "LPUSH KEY VALUE...", 2, int.MaxValue));
        cache.Subcommands.Add(Verb("lrange", "LRANGE", "LRANGE KEY START STOP", 3, 3));
        cache.Subcommands.Add(Verb("sadd", "SADD", "SADD KEY MEMBER...", 2, int.MaxValue));
        cache.Subcommands.Add(Verb("zadd", "ZADD", "ZADD KEY SCORE MEMBER [SCORE MEMBER...]", 3, int.MaxValue));
        cache.Subcommands.Add(Verb("zrange", "ZRANGE", "ZRANGE KEY START STOP [WITHSCORES]", 3, 4));
        cache.Subcommands.Add(Verb("scan", "SCAN", "SCAN CURSOR [MATCH PATTERN] [COUNT N]", 1, 7));
        cache.Subcommands.Add(StatsVerb());
        cache.Subcommands.Add(ReshardVerb());
        cache.Subcommands.Add(CreateVerb());
        return cache;
    }

    private static Command Verb(string name, string redis, string description, int min, int max, Func<string[], string[]>? map = null)
    {
        // An array argument whose arity allows one value is parsed as a scalar and refused
        // ("Cannot parse argument 'k1' ... as expected type 'System.String[]'"): take any count and check it.
        var args = new Argument<string[]>("args") { Description = description, Arity = new ArgumentArity(min, 100_000) };
        args.Validators.Add(result =>
        {
            if (result.Tokens.Count > max)
            {
                result.AddError($"'{name}' takes at most {max} argument(s): {description}");
            }
        });
        var command = new Command(name, description) { args };
        command.SetHandler((parse, output, ct) =>
        {
            var given = parse.GetValue(args) ?? [];
            return RunAsync(parse, output, [redis, .. map is null ? given : map(given)], ct);
        });
        return command;
    }

    private static Command SetVerb()
    {
        var key = new Argument<string>("key");
        var value = new Argument<string>("value");
        var ex = new Option<int?>("--ex") { Description = "Expire after this many seconds" };
        var nx = new Option<bool>("--nx") { Description = "Only if the key does not exist" };
        var xx = new Option<bool>("--xx") { Description = "Only if the key exists" };
        var set = new Command("set", "SET KEY VALUE [--ex SECONDS] [--nx|--xx]") { key, value, ex, nx, xx };
        set.SetHandler((parse, output, ct) =>
        {
            var words = new List<string> { "SET", parse.GetValue(key)!, parse.GetValue(value)! };
            if (parse.GetValue(ex) is { } seconds)
            {
                words.AddRange(["EX", seconds.ToString(CultureInfo.InvariantCulture)]);
            }

            if (parse.GetValue(nx))
            {
                words.Add("NX");
            }

            if (parse.GetValue(xx))
            {
                words.Add("XX");
            }

            return RunAsync(parse, output, [.. words], ct);
        });
        return set;
    }

    private static Command StatsVerb()
    {
        var stats = new Command("stats", "Keys, memory, hits, misses, evictions and expirations per shard");
        stats.SetHandler(async (parse, output, ct) =>
        {
            await using var connection = await GlobalOptions.ConnectAsync(parse, ct);
            await using var client = await CacheClient.ConnectAsync(connection.Grains, parse.GetValue(CacheName)!);
            var shards = await client.GetShardStatisticsAsync();
            var total = shards.Aggregate(new CacheStatistics(), (sum, s) => sum.Add(s));
            output.Document(new { Cache = client.Name, client.Definition.Shards, RingVersion = client.Definition.Version, Total = total, PerShard = shards });
            output.Line(string.Create(CultureInfo.InvariantCulture, $"cache '{client.Name}': {client.Definition.Shards} shards, {(client.Definition.Settings ?? CacheSettings.Default).Describe()}, ring version {client.Definition.Version}"));
            output.Table(
                ["SHARD", "KEYS", "WITH TTL", "USED BYTES", "HITS", "MISSES", "EVICTIONS", "EXPIRED", "COMMANDS", "STORE WRITES", "LOADED"],
                shards.Select((s, i) => Row(i.ToString(CultureInfo.InvariantCulture), s)).Append(Row("total", total)));
            return ExitCodes.Ok;
        });
        return stats;

        static IReadOnlyList<string> Row(string name, CacheStatistics s) =>
        [
            name, N(s.Keys), N(s.KeysWithTtl), N(s.UsedBytes), N(s.Hits), N(s.Misses), N(s.Evictions), N(s.Expirations), N(s.Commands), N(s.StorageWrites), N(s.KeysLoaded),
        ];

        static string N(long value) => value.ToString("N0", CultureInfo.InvariantCulture);
    }

    /// <summary>Parses a persistence name: volatile, write-through or snapshot.</summary>
    public static CachePersistence ParsePersistence(string? text) => (text ?? "volatile").ToLowerInvariant() switch
    {
        "volatile" => CachePersistence.Volatile,
        "write-through" or "writethrough" => CachePersistence.WriteThrough,
        "snapshot" => CachePersistence.Snapshot,
        var other => throw new UsageException($"--persistence must be volatile, write-through or snapshot (got '{other}')"),
    };

    private static Command CreateVerb()
    {
        var name = new Argument<string>("name") { Description = "Cache name" }.Named();
        var shards = new Option<int>("--shards") { Description = "Shard count", DefaultValueFactory = _ => 8 };
        var persistence = new Option<string>("--persistence") { Description = "volatile (default), write-through or snapshot", DefaultValueFactory = _ => "volatile" };
        var eviction = new Option<string?>("--eviction") { Description = "noeviction, lru, lfu or ttl-first (default: the silo's Granary:Caching:EvictionPolicy)" };
        var maxMemory = new Option<long?>("--max-memory") { Description = "Memory bound per shard in estimated bytes, 1 up to the silo's Granary:Caching:MemoryCeilingBytesPerShard (default: the silo's MaxMemoryBytesPerShard)" };
        var snapshotInterval = new Option<int?>("--snapshot-interval-ms") { Description = "Snapshot period for --persistence snapshot (default: the silo's, 1000 ms)" };
        var backingTable = new Option<string?>("--backing-table") { Description = "Table the cache fronts for read-through, write-through and write-behind (e.g. products)" };
        var writeBehind = new Option<int?>("--write-behind-ms") { Description = "Write-behind delay: a write reaches the backing table within this (default: the silo's, 500 ms)" };
        var create = new Command("create", "Create a cache with its shard count, persistence, eviction policy, memory bound and backing table (persisted in its definition)")
        {
            name, shards, persistence, eviction, maxMemory, snapshotInterval, backingTable, writeBehind,
        };
        create.SetHandler(async (parse, output, ct) =>
        {
            var count = GlobalOptions.Require(parse.GetValue(shards), "--shards", 1, Limits.Caching.MaxConfigurableShards);
            var policy = parse.GetValue(eviction)?.ToLowerInvariant() switch
            {
                null => (EvictionPolicy?)null,
                "noeviction" or "no-eviction" => EvictionPolicy.NoEviction,
                "lru" => EvictionPolicy.Lru,
                "lfu" => EvictionPolicy.Lfu,
                "ttl-first" or "ttlfirst" => EvictionPolicy.TtlFirst,
                var other => throw new UsageException($"--eviction must be noeviction, lru, lfu or ttl-first (got '{other}')"),
            };
            if (parse.GetValue(maxMemory) is < 1)
            {
                throw new UsageException("--max-memory must be positive (a cache is never unbounded; the silo's ceiling is the upper limit)");
            }

            var settings = new CacheSettings(ParsePersistence(parse.GetValue(persistence)), policy, parse.GetValue(maxMemory), parse.GetValue(snapshotInterval), parse.GetValue(backingTable), parse.GetValue(writeBehind));
            await using var connection = await GlobalOptions.ConnectAsync(parse, ct);
            var definition = await connection.Grains.GetGrain<ICacheDefinitionGrain>(parse.GetValue(name)!).CreateAsync(count, settings);
            output.Document(definition);
            output.Line(string.Create(CultureInfo.InvariantCulture, $"cache '{definition.Name}': {definition.Shards} shards, {(definition.Settings ?? CacheSettings.Default).Describe()}, ring version {definition.Version}"));
            return ExitCodes.Ok;
        });
        return create;
    }

    private static Command ReshardVerb()
    {
        var shards = new Argument<int>("shards") { Description = "New shard count" };
        var reshard = new Command("reshard", "Change the shard count; only keys whose shard changed move") { shards };
        reshard.SetHandler(async (parse, output, ct) =>
        {
            var count = GlobalOptions.Require(parse.GetValue(shards), "shards", 1, Limits.Caching.MaxConfigurableShards);
            await using var connection = await GlobalOptions.ConnectAsync(parse, ct);
            var result = await connection.Grains.GetGrain<ICacheDefinitionGrain>(parse.GetValue(CacheName)!).ReshardAsync(count);
            output.Document(result);
            output.Line(string.Create(CultureInfo.InvariantCulture, $"now {result.Definition.Shards} shards (ring version {result.Definition.Version}); moved {result.KeysMoved} of {result.KeysBefore} keys; ideal fraction {result.IdealFraction:P1}"));
            return ExitCodes.Ok;
        });
        return reshard;
    }

    private static async Task<int> RunAsync(ParseResult parse, Output output, string[] words, CancellationToken ct)
    {
        await using var connection = await GlobalOptions.ConnectAsync(parse, ct);
        await using var client = await CacheClient.ConnectAsync(connection.Grains, parse.GetValue(CacheName)!);
        var reply = await client.ExecuteAsync(words);
        output.Document(new { Cache = client.Name, Command = words, Reply = ToPlain(reply) });
        if (reply.IsError)
        {
            await Console.Error.WriteLineAsync("(error) " + reply.Text);
            return RedisText.IsArgumentError(reply.Text) ? ExitCodes.Usage : ExitCodes.Failure;
        }

        output.Line(reply.ToString());
        return ExitCodes.Ok;
    }

    /// <summary>A JSON-friendly form of a reply: strings, numbers, null, arrays, or { error }.</summary>
    public static object? ToPlain(CacheReply reply)
    {
        ArgumentNullException.ThrowIfNull(reply);
        return reply.Kind switch
        {
            CacheReplyKind.Integer => reply.Integer,
            CacheReplyKind.Error => new { Error = reply.Text },
            CacheReplyKind.Array => reply.Items?.Select(ToPlain).ToList(),
            _ => reply.Text,
        };
    }
}
