using System.Text;
using Granary.Caching;
using Granary.Tests.Cluster.Infrastructure;
using StackExchange.Redis;
using Xunit.Abstractions;

namespace Granary.Tests.Cluster.Resp;

/// <summary>
/// The silo's RESP endpoint with real clients (redis-cli, StackExchange.Redis), compared byte for byte
/// with redis-server, and under malformed input. One two-silo cluster for the class.
/// </summary>
[Collection(ServersCollection.Name)]
public sealed partial class RespEndpointTests(SharedServersFixture servers, RespClusterFixture resp, ITestOutputHelper output) : IClassFixture<RespClusterFixture>
{
    private static readonly TimeSpan CliTimeout = TimeSpan.FromSeconds(60);

    [Fact]
    public async Task Redis_cli_sets_and_gets_through_the_endpoint()
    {
        var cli = ChildProcess.FindExecutable("redis-cli", "/usr/bin", "/usr/local/bin")
            ?? throw new InvalidOperationException("redis-cli is not installed (Debian package redis-tools)");
        var environment = new Dictionary<string, string> { ["REDISCLI_AUTH"] = resp.Password };
        var key = "cli:" + Guid.NewGuid().ToString("N");
        var set = await ChildProcess.RunAsync(cli, ["-p", resp.Port.ToString(System.Globalization.CultureInfo.InvariantCulture), "SET", key, "1"], CliTimeout, default, environment: environment);
        var get = await ChildProcess.RunAsync(cli, ["-p", resp.Port.ToString(System.Globalization.CultureInfo.InvariantCulture), "GET", key], CliTimeout, default, environment: environment);
        output.WriteLine(set.Output + get.Output);
        Assert.Equal(0, set.ExitCode);
        Assert.Equal("OK", set.Output.Trim());
        Assert.Equal(0, get.ExitCode);
        Assert.Equal("1", get.Output.Trim());
    }

    [Fact]
    public async Task Every_silo_serves_the_same_cache_and_a_password_is_required()
    {
        Assert.Equal(2, resp.Ports.Distinct().Count());
        var key = "silos:" + Guid.NewGuid().ToString("N");
        await using (var first = await resp.ConnectAsync(resp.Ports[0]))
        {
            Assert.Equal("+OK\r\n", await first.CallTextAsync("SET", key, "from-silo-0"));
        }

        await using (var second = await resp.ConnectAsync(resp.Ports[1]))
        {
            Assert.Equal("$11\r\nfrom-silo-0\r\n", await second.CallTextAsync("GET", key));
        }

        await using var anonymous = await RespWire.ConnectAsync(resp.Port);
        Assert.Equal("-NOAUTH Authentication required.\r\n", await anonymous.CallTextAsync("GET", key));
        Assert.StartsWith("-WRONGPASS", await anonymous.CallTextAsync("AUTH", "wrong"), StringComparison.Ordinal);
        Assert.StartsWith("-NOAUTH HELLO must be called", await anonymous.CallTextAsync("HELLO", "3"), StringComparison.Ordinal);
        var hello = await anonymous.CallTextAsync("HELLO", "3", "AUTH", "default", resp.Password, "SETNAME", "tester");
        Assert.StartsWith("%7\r\n$6\r\nserver\r\n", hello, StringComparison.Ordinal);
        Assert.Contains("$5\r\nproto\r\n:3\r\n", hello, StringComparison.Ordinal);
        Assert.Equal("$6\r\ntester\r\n", await anonymous.CallTextAsync("CLIENT", "GETNAME"));
        Assert.Equal("_\r\n", await anonymous.CallTextAsync("GET", key + ":absent"));
    }

    [Fact]
    public async Task Select_maps_database_indexes_onto_the_configured_caches()
    {
        var key = "select:" + Guid.NewGuid().ToString("N");
        await using var wire = await resp.ConnectAsync();
        Assert.Equal("+OK\r\n", await wire.CallTextAsync("SET", key, "zero"));
        Assert.Equal("+OK\r\n", await wire.CallTextAsync("SELECT", "1"));
        Assert.Equal("$-1\r\n", await wire.CallTextAsync("GET", key));
        Assert.Equal("+OK\r\n", await wire.CallTextAsync("SET", key, "one"));
        Assert.Equal("-ERR DB index is out of range\r\n", await wire.CallTextAsync("SELECT", "2"));
        Assert.Equal("-ERR invalid DB index\r\n", await wire.CallTextAsync("SELECT", "x"));
        Assert.Equal("+OK\r\n", await wire.CallTextAsync("SELECT", "0"));
        Assert.Equal("$4\r\nzero\r\n", await wire.CallTextAsync("GET", key));
        Assert.Equal("+RESET\r\n", await wire.CallTextAsync("RESET"));
        Assert.Equal("-NOAUTH Authentication required.\r\n", await wire.CallTextAsync("GET", key));
    }

    [Fact]
    public async Task StackExchange_Redis_runs_strings_hashes_lists_batches_and_transactions()
    {
        var options = ConfigurationOptions.Parse(resp.ConnectionString);

        // The endpoint has no pub/sub: the client must not need its subscription channel.
        options.CommandMap = CommandMap.Create(new HashSet<string> { "SUBSCRIBE", "PSUBSCRIBE", "SSUBSCRIBE" }, available: false);
        var log = new StringWriter();
        await using var redis = await ConnectionMultiplexer.ConnectAsync(options, log);
        output.WriteLine(log.ToString());
        var db = redis.GetDatabase();
        var prefix = "se:" + Guid.NewGuid().ToString("N") + ":";

        Assert.True(await db.StringSetAsync(prefix + "s", "v1", TimeSpan.FromMinutes(5)));
        Assert.Equal("v1", await db.StringGetAsync(prefix + "s"));
        Assert.Equal(5, await db.StringIncrementAsync(prefix + "n", 5));
        Assert.InRange((await db.KeyTimeToLiveAsync(prefix + "s"))!.Value, TimeSpan.FromMinutes(4), TimeSpan.FromMinutes(5));
        Assert.False(await db.StringSetAsync(prefix + "s", "v2", when: When.NotExists));
        Assert.Equal("v1", await db.StringGetAsync(prefix + "s"));

        await db.HashSetAsync(prefix + "h", [new HashEntry("f1", "a"), new HashEntry("f2", "b")]);
        Assert.Equal("b", await db.HashGetAsync(prefix + "h", "f2"));
        Assert.Equal(["f1=a", "f2=b"], (await db.HashGetAllAsync(prefix + "h")).Select(e => $"{e.Name}={e.Value}").Order(StringComparer.Ordinal));

        await db.ListRightPushAsync(prefix + "l", ["1", "2", "3"]);
        Assert.Equal(["1", "2", "3"], (await db.ListRangeAsync(prefix + "l")).Select(v => (string)v!));
        Assert.Equal("1", await db.ListLeftPopAsync(prefix + "l"));

        // Pipelined: every command is written before any reply is read.
        var batch = db.CreateBatch();
        var sets = Enumerable.Range(0, 200).Select(i => batch.StringSetAsync(prefix + "b" + i, i.ToString(System.Globalization.CultureInfo.InvariantCulture))).ToArray();
        var incrs = Enumerable.Range(0, 50).Select(_ => batch.StringIncrementAsync(prefix + "counter")).ToArray();
        var gets = Enumerable.Range(0, 200).Select(i => batch.StringGetAsync(prefix + "b" + i)).ToArray();
        batch.Execute();
        Assert.All(await Task.WhenAll(sets), Assert.True);
        Assert.Equal(Enumerable.Range(1, 50).Select(i => (long)i), await Task.WhenAll(incrs));
        Assert.Equal(Enumerable.Range(0, 200).Select(i => i.ToString(System.Globalization.CultureInfo.InvariantCulture)), (await Task.WhenAll(gets)).Select(v => (string)v!));

        // A transaction on one key (one shard) runs as a unit.
        var transaction = db.CreateTransaction();
        var first = transaction.StringIncrementAsync(prefix + "tx");
        var second = transaction.StringIncrementAsync(prefix + "tx", 10);
        var read = transaction.StringGetAsync(prefix + "tx");
        Assert.True(await transaction.ExecuteAsync());
        Assert.Equal(1, await first);
        Assert.Equal(11, await second);
        Assert.Equal("11", await read);
    }

    [Fact]
    public async Task Multi_exec_runs_on_one_shard_and_refuses_keys_of_two_with_crossslot()
    {
        var prefix = "multi:" + Guid.NewGuid().ToString("N") + ":";
        await using var wire = await resp.ConnectAsync();
        Assert.Equal("+OK\r\n", await wire.CallTextAsync("MULTI"));
        Assert.Equal("+QUEUED\r\n", await wire.CallTextAsync("SET", prefix + "a", "1"));
        Assert.Equal("+QUEUED\r\n", await wire.CallTextAsync("INCR", prefix + "a"));
        Assert.Equal("+QUEUED\r\n", await wire.CallTextAsync("GET", prefix + "a"));
        Assert.Equal("*3\r\n+OK\r\n:2\r\n$1\r\n2\r\n", await wire.CallTextAsync("EXEC"));

        // Keys of two shards: refused when queued, and EXEC then discards the transaction.
        var other = await KeyOnAnotherShardAsync(wire, prefix + "a", prefix);
        Assert.Equal("+OK\r\n", await wire.CallTextAsync("MULTI"));
        Assert.Equal("+QUEUED\r\n", await wire.CallTextAsync("SET", prefix + "a", "changed"));
        Assert.Equal("-CROSSSLOT Keys in request don't hash to the same slot\r\n", await wire.CallTextAsync("SET", other, "x"));
        Assert.Equal("-EXECABORT Transaction discarded because of previous errors.\r\n", await wire.CallTextAsync("EXEC"));
        Assert.Equal("$1\r\n2\r\n", await wire.CallTextAsync("GET", prefix + "a"));
        Assert.Equal("$-1\r\n", await wire.CallTextAsync("GET", other));
        Assert.Equal("-ERR EXEC without MULTI\r\n", await wire.CallTextAsync("EXEC"));
        Assert.StartsWith("-ERR EVAL is not supported", await wire.CallTextAsync("EVAL", "return 1", "0"), StringComparison.Ordinal);
    }

    /// <summary>A key that MGET shows lives on another shard than <paramref name="key"/>: a two-key MULTI with it is refused.</summary>
    private static async Task<string> KeyOnAnotherShardAsync(RespWire wire, string key, string prefix)
    {
        for (var i = 0; i < 200; i++)
        {
            var candidate = prefix + "other" + i.ToString(System.Globalization.CultureInfo.InvariantCulture);
            Assert.Equal("+OK\r\n", await wire.CallTextAsync("MULTI"));
            await wire.CallTextAsync("GET", key);
            var queued = await wire.CallTextAsync("GET", candidate);
            await wire.CallTextAsync("DISCARD");
            if (queued.StartsWith("-CROSSSLOT", StringComparison.Ordinal))
            {
                return candidate;
            }
        }

        throw new InvalidOperationException("no key on another shard among 200 candidates");
    }

    [Fact]
    public async Task Values_and_keys_of_any_bytes_are_stored_exactly_and_the_sdk_reads_and_writes_them()
    {
        var key = "binary:" + Guid.NewGuid().ToString("N");
        await using var wire = await resp.ConnectAsync();
        byte[] frame = [.. Encoding.ASCII.GetBytes($"*3\r\n$3\r\nSET\r\n${key.Length}\r\n{key}\r\n$3\r\n"), 0xff, 0x00, 0xfe, (byte)'\r', (byte)'\n'];
        await wire.SendRawAsync(frame);
        Assert.Equal("+OK\r\n", Encoding.UTF8.GetString(await wire.ReadReplyAsync()));
        Assert.Equal([.. "$3\r\n"u8, 0xff, 0x00, 0xfe, .. "\r\n"u8], await wire.CallAsync("GET", key));
        Assert.Equal(":3\r\n", await wire.CallTextAsync("STRLEN", key));
        await using var cache = await Granary.Client.Caching.CacheClient.ConnectAsync(resp.Grains, "default");
        Assert.Equal(CacheBytes.FromBytes([0xff, 0x00, 0xfe]), await cache.GetAsync(key));
        Assert.Equal([0xff, 0x00, 0xfe], await cache.GetBytesAsync(key));
        await cache.SetBytesAsync(key, new byte[] { 0x00, 0xc3 });
        Assert.Equal([.. "$2\r\n"u8, 0x00, 0xc3, .. "\r\n"u8], await wire.CallAsync("GET", key));

        // A key that is not text names its own item, under the same escaped string.
        var binaryKey = CacheBytes.FromBytes([.. Encoding.ASCII.GetBytes(key), 0x80]);
        Assert.Equal("+OK\r\n", await wire.CallTextAsync("SET", binaryKey, "é ✓"));
        Assert.Equal("$6\r\né ✓\r\n", await wire.CallTextAsync("GET", binaryKey));
        Assert.Equal("é ✓", await cache.GetAsync(binaryKey));
        await wire.SendRawAsync([.. "*2\r\n$4\r\nECHO\r\n$3\r\n"u8, 0x00, 0xff, 0x80, .. "\r\n"u8]);
        Assert.Equal([.. "$3\r\n"u8, 0x00, 0xff, 0x80, .. "\r\n"u8], await wire.ReadReplyAsync());
    }

    [Fact]
    public async Task Microsofts_redis_distributed_cache_keeps_binary_values_through_the_endpoint()
    {
        // Microsoft.Extensions.Caching.StackExchangeRedis, as an application configures it: its entries are
        // hashes whose 'data' field holds the value's raw bytes (here with zero bytes and invalid UTF-8).
        var instance = $"mscache:{Guid.NewGuid():N}:";
        using var cache = new Microsoft.Extensions.Caching.StackExchangeRedis.RedisCache(Microsoft.Extensions.Options.Options.Create(
            new Microsoft.Extensions.Caching.StackExchangeRedis.RedisCacheOptions { Configuration = resp.ConnectionString, InstanceName = instance }));
        var value = new byte[4096];
        new Random(5).NextBytes(value);
        value[0] = 0;
        value[1] = 0xff;
        var options = new Microsoft.Extensions.Caching.Distributed.DistributedCacheEntryOptions { SlidingExpiration = TimeSpan.FromMinutes(5), AbsoluteExpirationRelativeToNow = TimeSpan.FromHours(1) };
        await cache.SetAsync("entry", value, options);
        Assert.Equal(value, await cache.GetAsync("entry"));
        await cache.RefreshAsync("entry");

        await using var wire = await resp.ConnectAsync();
        var stored = await wire.CallAsync("HGET", instance + "entry", "data");
        Assert.Equal([.. "$4096\r\n"u8, .. value, .. "\r\n"u8], stored);
        var ttl = long.Parse(Encoding.ASCII.GetString(await wire.CallAsync("TTL", instance + "entry")).TrimStart(':').Trim(), System.Globalization.CultureInfo.InvariantCulture);
        Assert.InRange(ttl, 1, 300); // the sliding window, not the absolute hour

        await cache.RemoveAsync("entry");
        Assert.Null(await cache.GetAsync("entry"));
    }
}
