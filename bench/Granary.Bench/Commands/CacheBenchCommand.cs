using System.CommandLine;
using Granary.Bench.Cpu;
using Granary.Cli.Cli;
using Granary.Cli.Commands;
using Granary.Client.Configuration;
using Granary.Server.Configuration;

namespace Granary.Bench.Commands;

/// <summary><c>granary bench cache</c>: the sharded cache beside redis-server through StackExchange.Redis.</summary>
public static class CacheBenchCommand
{
    /// <summary>Builds the subcommand.</summary>
    public static Command Create()
    {
        var op = new Option<string>("--op") { Description = "get, set or mix (80% GET / 20% SET)", DefaultValueFactory = _ => "get" };
        var keys = new Option<int>("--keys") { Description = "Distinct keys (preloaded)", DefaultValueFactory = _ => 100_000 };
        var valueSize = new Option<int>("--value-size") { Description = "Value size in bytes", DefaultValueFactory = _ => 100 };
        var redis = new Option<string?>("--redis") { Description = "Peer Redis (default: Granary:Cluster:RedisConnectionString; the credentials of Granary:Security:Servers fill in a password it does not name)" };
        var shards = new Option<int?>("--shards") { Description = "Reshard the 'bench' cache to this many shards first (default: keep)" };
        var persistence = new Option<string>("--persistence") { Description = "Bench a cache with this persistence: volatile (cache 'bench', default), write-through (cache 'bench-write-through') or snapshot (cache 'bench-snapshot')", DefaultValueFactory = _ => "volatile" };
        var inFlight = new Option<int?>("--in-flight") { Description = "Grain calls in flight per shard for Granary's CacheClient (default: the client's default)" };
        var cache = new Command("cache", "Sharded cache GET/SET/mix, beside Redis (StackExchange.Redis, one multiplexer)") { op, keys, valueSize, redis, shards, persistence, inFlight };
        cache.SetHandler(async (parse, output, ct) =>
        {
            var settings = BenchCommands.Common.Settings(parse, output);
            var kind = (parse.GetValue(op) ?? "get").ToLowerInvariant() switch
            {
                "get" => CacheBenchOp.Get,
                "set" => CacheBenchOp.Set,
                "mix" => CacheBenchOp.Mix,
                var other => throw new UsageException($"--op must be get, set or mix (got '{other}')"),
            };
            var workload = new CacheWorkload(kind, GlobalOptions.Require(parse.GetValue(keys), "--keys", 1, 10_000_000), GlobalOptions.Require(parse.GetValue(valueSize), "--value-size", 1, Limits.Caching.MaxValueLength));
            await using var connection = await GlobalOptions.ConnectAsync(parse, ct);
            settings = await BenchCommands.Common.WithCpuAsync(settings, parse, connection, ct);
            var deployment = connection.Embedded ? "embedded silo (in-process client)" : "external client over TCP to the configured cluster";
            var mode = CacheCommands.ParsePersistence(parse.GetValue(persistence));
            await using var granary = new GranaryCacheBenchTarget(connection.Grains, workload, deployment, parse.GetValue(shards) is { } s ? GlobalOptions.Require(s, "--shards", 1, 1024) : null, mode, parse.GetValue(inFlight) is { } f ? GlobalOptions.Require(f, "--in-flight", 1, 1024) : null);
            var peerName = (parse.GetValue(BenchCommands.Common.Peer) ?? "none").ToLowerInvariant();
            IBenchTarget? peer = peerName switch
            {
                "none" => null,
                "redis" => new RedisCacheBenchTarget((parse.GetValue(redis) is { } peerRedis ? RedisSecrets.RedisWithCredentials(peerRedis, connection.Configuration) : null) ?? connection.Configuration["Granary:Cluster:RedisConnectionString"] ?? "127.0.0.1:6379", workload),
                _ => throw new UsageException($"--peer must be none or redis for the cache benchmark (got '{peerName}')"),
            };
            if (peer is RedisCacheBenchTarget { ConnectionString: var peerConnection } && settings.Cpu is { } cpu)
            {
                CpuDiscovery.WatchRedis(cpu, peerConnection);
            }

            await using (peer)
            {
                return await BenchCommands.CompareAsync($"cache-{kind.ToString().ToLowerInvariant()}", granary, peer, settings, output, ct);
            }
        });
        return cache;
    }
}
