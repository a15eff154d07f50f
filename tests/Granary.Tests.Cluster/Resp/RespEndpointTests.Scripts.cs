using System.Globalization;
using System.Text;
using Granary.Server.Resp;
using Medallion.Threading.Redis;
using StackExchange.Redis;

namespace Granary.Tests.Cluster.Resp;

/// <summary>The scripts the endpoint recognises (DistributedLock.Redis's release and extension) run as native commands.</summary>
public sealed partial class RespEndpointTests
{
    // DistributedLock.Redis keeps the lock on the real clock (it extends it every fifth of the expiry):
    // long enough that a loaded machine's pauses (the lock tests saw renewals answered more than a
    // second late) do not end it, short enough that holding it for two expiries stays quick.
    private static readonly TimeSpan LockExpiry = TimeSpan.FromSeconds(4);

    [Fact]
    public async Task DistributedLock_Redis_acquires_extends_excludes_and_releases_its_lock_on_the_endpoint()
    {
        var options = ConfigurationOptions.Parse(resp.ConnectionString);
        options.CommandMap = CommandMap.Create(new HashSet<string> { "SUBSCRIBE", "PSUBSCRIBE", "SSUBSCRIBE" }, available: false);
        await using var redis = await ConnectionMultiplexer.ConnectAsync(options);
        var db = redis.GetDatabase();
        var name = "dlock:" + Guid.NewGuid().ToString("N");
        // An acquisition counts only if it took less than expiry - MinValidityTime (a cold shard may take longer).
        RedisDistributedLock Lock() => new(name, db, o => o.Expiry(LockExpiry).MinValidityTime(LockExpiry / 3).ExtensionCadence(LockExpiry / 5));
        Assert.True(await db.StringSetAsync(name, "warm-up"));
        Assert.True(await db.KeyDeleteAsync(name));
        var first = Lock();
        var second = Lock();

        await using (var held = await first.TryAcquireAsync())
        {
            Assert.NotNull(held);

            // Held for two expiries: only the extension script (compare-and-pexpire) keeps the key alive, and
            // the other handle is refused all along.
            var until = DateTimeOffset.UtcNow + (2 * LockExpiry);
            while (DateTimeOffset.UtcNow < until)
            {
                Assert.Null(await second.TryAcquireAsync());
                Assert.False(held.HandleLostToken.IsCancellationRequested, "the handle reported its lock lost");
                await Task.Delay(LockExpiry / 5); // the behaviour under test is the hold over time: the other handle tries again every fifth of the expiry while only the extensions keep the key
            }

            Assert.True(await db.KeyExistsAsync(name));
        }

        // Released by the compare-and-delete script: the key is gone and the other handle takes the lock.
        Assert.False(await db.KeyExistsAsync(name));
        await using (var taken = await second.TryAcquireAsync())
        {
            Assert.NotNull(taken);
            Assert.Null(await first.TryAcquireAsync());
        }

        await using (var again = await first.TryAcquireAsync())
        {
            Assert.NotNull(again);
        }

        Assert.False(await db.KeyExistsAsync(name));
    }

    [Theory]
    [InlineData(2)]
    [InlineData(3)]
    public async Task Recognised_scripts_answer_as_redis_server_runs_them(int protocol)
    {
        var (redis, granary) = await ConnectBothAsync(protocol);
        await using var redisWire = redis;
        await using var granaryWire = granary;

        var release = RespConnection.KnownScripts.Values.Single(s => s.Command == "DELIFEQ");
        var extend = RespConnection.KnownScripts.Values.Single(s => s.Command == "PEXPIREIFEQ");
        var key = $"script{protocol}:{Guid.NewGuid():N}";
        string[][] commands =
        [
            ["SCRIPT", "LOAD", release.Text], ["SCRIPT", "LOAD", extend.Text],
            ["SCRIPT", "EXISTS", release.Sha1, extend.Sha1.ToUpperInvariant(), new string('0', 40)],
            ["EVAL", release.Text, "1", key, "mine"], ["SET", key, "mine", "PX", "60000"],
            ["EVAL", extend.Text, "1", key, "theirs", "5000"], ["PTTL", key],
            ["EVAL", extend.Text, "1", key, "mine", "900000"], ["EVALSHA", extend.Sha1, "1", key, "mine", "800000"],
            ["EVAL", release.Text, "1", key, "theirs"], ["EXISTS", key],
            ["EVALSHA", release.Sha1.ToUpperInvariant(), "1", key, "mine"], ["EXISTS", key],
            ["EVALSHA", extend.Sha1, "1", key, "mine", "1000"], ["EVALSHA", new string('a', 40), "1", key, "mine"],
            ["EVAL", release.Text, "x", key, "mine"], ["EVAL", release.Text, "-1", key, "mine"], ["EVAL", release.Text, "3", key, "mine"],
            ["EVALSHA", release.Sha1], ["SCRIPT", "EXISTS"],
        ];
        foreach (var command in commands)
        {
            var theirs = Encoding.UTF8.GetString(await redis.CallAsync(command));
            var ours = Encoding.UTF8.GetString(await granary.CallAsync(command));
            if (command[0] == "PTTL")
            {
                Assert.InRange(long.Parse(ours[1..^2], CultureInfo.InvariantCulture), 1, 60_000);
                continue;
            }

            Assert.True(theirs == ours, $"{string.Join(' ', command.Select(a => a.Length > 20 ? a[..20] + "..." : a))}: redis-server {theirs.Trim()}, Granary {ours.Trim()}");
        }

        // The key is a few minutes from expiry after the extensions, on both.
        Assert.Equal("+OK\r\n", await granary.CallTextAsync("SET", key, "mine", "PX", "1000"));
        Assert.Equal(":1\r\n", await granary.CallTextAsync("EVALSHA", extend.Sha1, "1", key, "mine", "900000"));
        Assert.InRange(long.Parse((await granary.CallTextAsync("PTTL", key))[1..^2], CultureInfo.InvariantCulture), 800_000, 900_000);
    }

    [Fact]
    public async Task Other_scripts_are_refused_and_change_nothing()
    {
        await using var wire = await resp.ConnectAsync();
        var key = "lua:" + Guid.NewGuid().ToString("N");
        Assert.Equal("+OK\r\n", await wire.CallTextAsync("SET", key, "v"));
        Assert.Equal(
            "-ERR EVAL is not supported: Granary's cache has no Lua scripting (see docs/resp.md)\r\n",
            await wire.CallTextAsync("EVAL", "return redis.call('del', KEYS[1])", "1", key));
        Assert.Equal(
            "-ERR SCRIPT LOAD is not supported: Granary's cache has no Lua scripting (see docs/resp.md)\r\n",
            await wire.CallTextAsync("SCRIPT", "LOAD", "return redis.call('del', KEYS[1])"));
        Assert.Equal("-NOSCRIPT No matching script. Please use EVAL.\r\n", await wire.CallTextAsync("EVALSHA", new string('b', 40), "1", key));
        var release = RespConnection.KnownScripts.Values.Single(s => s.Command == "DELIFEQ");
        Assert.StartsWith("-ERR this script runs natively with 1 key and 1 argument", await wire.CallTextAsync("EVAL", release.Text, "1", key), StringComparison.Ordinal);
        Assert.StartsWith("-ERR FCALL is not supported", await wire.CallTextAsync("FCALL", "f", "0"), StringComparison.Ordinal);
        Assert.Equal("$1\r\nv\r\n", await wire.CallTextAsync("GET", key));

        // Inside MULTI a recognised script is queued as its native command, and runs at EXEC.
        Assert.Equal("+OK\r\n", await wire.CallTextAsync("MULTI"));
        Assert.Equal("+QUEUED\r\n", await wire.CallTextAsync("EVALSHA", release.Sha1, "1", key, "v"));
        Assert.Equal("+QUEUED\r\n", await wire.CallTextAsync("EXISTS", key));
        Assert.Equal("*2\r\n:1\r\n:0\r\n", await wire.CallTextAsync("EXEC"));
    }

    /// <summary>A connection to redis-server (the differential tests' database) and one to the endpoint, both speaking RESP<paramref name="protocol"/>.</summary>
    private async Task<(RespWire Redis, RespWire Granary)> ConnectBothAsync(int protocol)
    {
        var redis = await RespWire.ConnectAsync(servers.Redis.Port);
        Assert.Equal("+OK\r\n", await redis.CallTextAsync("AUTH", servers.Redis.Password));
        Assert.Equal("+OK\r\n", await redis.CallTextAsync("SELECT", RedisDatabase.ToString(CultureInfo.InvariantCulture)));
        var granary = await resp.ConnectAsync();
        foreach (var wire in new[] { redis, granary })
        {
            Assert.StartsWith(protocol == 3 ? "%" : "*", await wire.CallTextAsync("HELLO", protocol.ToString(CultureInfo.InvariantCulture)), StringComparison.Ordinal);
        }

        return (redis, granary);
    }
}
