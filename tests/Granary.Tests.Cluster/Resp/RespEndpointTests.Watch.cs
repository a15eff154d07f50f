using System.Globalization;
using System.Text;
using Granary.Tests.Cluster.Infrastructure;

namespace Granary.Tests.Cluster.Resp;

/// <summary>WATCH/UNWATCH: EXEC answers nil when a watched key changed since WATCH, as redis-server does.</summary>
public sealed partial class RespEndpointTests
{
    private static readonly TimeSpan ExpiryDeadline = TimeSpan.FromSeconds(10);

    [Theory]
    [InlineData(2)]
    [InlineData(3)]
    public async Task Watch_answers_as_redis_server_on_one_connection(int protocol)
    {
        var (redis, granary) = await ConnectBothAsync(protocol);
        await using var redisWire = redis;
        await using var granaryWire = granary;

        var k = $"watch{protocol}:{Guid.NewGuid():N}";
        var other = k + ":other";
        string[][][] cases =
        [
            // Unchanged: the transaction runs.
            [["WATCH", k], ["MULTI"], ["SET", k, "1"], ["EXEC"]],
            [["WATCH", k], ["GET", k], ["SET", other, "x"], ["MULTI"], ["INCR", k], ["EXEC"]],
            [["WATCH", k], ["MULTI"], ["EXEC"]],
            [["WATCH", k], ["WATCH", k], ["MULTI"], ["GET", k], ["EXEC"]],

            // Changed by this connection (a write, the same value, a TTL, a delete, a create then delete): nil.
            [["WATCH", k], ["SET", k, "2"], ["MULTI"], ["GET", k], ["EXEC"], ["GET", k]],
            [["WATCH", k], ["SET", k, "2"], ["MULTI"], ["EXEC"]],
            [["WATCH", k], ["EXPIRE", k, "100"], ["MULTI"], ["GET", k], ["EXEC"]],
            [["WATCH", k], ["PERSIST", k], ["MULTI"], ["GET", k], ["EXEC"]],
            [["WATCH", k], ["DEL", k], ["MULTI"], ["SET", k, "3"], ["EXEC"], ["EXISTS", k]],
            [["WATCH", k], ["SET", k, "4"], ["DEL", k], ["MULTI"], ["GET", k], ["EXEC"]],
            [["WATCH", k], ["DEL", k], ["MULTI"], ["GET", k], ["EXEC"]],

            // The watch ends with EXEC, DISCARD and UNWATCH.
            [["WATCH", k], ["SET", k, "5"], ["MULTI"], ["EXEC"], ["MULTI"], ["GET", k], ["EXEC"]],
            [["WATCH", k], ["MULTI"], ["DISCARD"], ["SET", k, "6"], ["MULTI"], ["GET", k], ["EXEC"]],
            [["WATCH", k], ["UNWATCH"], ["SET", k, "7"], ["MULTI"], ["GET", k], ["EXEC"]],
            [["WATCH", k], ["DISCARD"], ["SET", k, "8"], ["MULTI"], ["GET", k], ["EXEC"]],

            // Errors: WATCH inside MULTI (the transaction goes on), no key, a refused command.
            [["WATCH", k], ["MULTI"], ["WATCH", k], ["GET", k], ["EXEC"]],
            [["WATCH"], ["WATCH", k], ["MULTI"], ["NOSUCH"], ["EXEC"], ["SET", k, "9"], ["MULTI"], ["GET", k], ["EXEC"]],
        ];
        foreach (var commands in cases)
        {
            foreach (var command in commands)
            {
                var theirs = Encoding.UTF8.GetString(await redis.CallAsync(command));
                var ours = Encoding.UTF8.GetString(await granary.CallAsync(command));
                Assert.True(theirs == ours, $"{string.Join(' ', command)} in [{string.Join("; ", commands.Select(c => string.Join(' ', c)))}]: redis-server {theirs.Trim()}, Granary {ours.Trim()}");
            }
        }

        // A watched key that expires before EXEC: nil on both.
        foreach (var wire in new[] { redis, granary })
        {
            Assert.Equal("+OK\r\n", await wire.CallTextAsync("SET", k, "short", "PX", "300"));
            Assert.Equal("+OK\r\n", await wire.CallTextAsync("WATCH", k));
        }

        await Eventually.TrueAsync(
            "the watched key's TTL passed on both servers",
            async () => await redis.CallTextAsync("PTTL", k) == ":-2\r\n" && await granary.CallTextAsync("PTTL", k) == ":-2\r\n",
            ExpiryDeadline);
        foreach (var wire in new[] { redis, granary })
        {
            Assert.Equal("+OK\r\n", await wire.CallTextAsync("MULTI"));
            Assert.Equal("+QUEUED\r\n", await wire.CallTextAsync("SET", k, "late"));
            Assert.Equal(protocol == 3 ? "_\r\n" : "*-1\r\n", await wire.CallTextAsync("EXEC"));
        }
    }

    [Fact]
    public async Task Watch_fails_the_exec_when_another_connection_changed_the_key()
    {
        var k = "watch2:" + Guid.NewGuid().ToString("N");
        await using var first = await resp.ConnectAsync(resp.Ports[0]);
        await using var second = await resp.ConnectAsync(resp.Ports[1]);
        Assert.Equal("+OK\r\n", await first.CallTextAsync("SET", k, "10"));

        // Changed by the other connection (on another silo) before MULTI: nil, nothing ran.
        Assert.Equal("+OK\r\n", await first.CallTextAsync("WATCH", k));
        Assert.Equal(":11\r\n", await second.CallTextAsync("INCR", k));
        Assert.Equal("+OK\r\n", await first.CallTextAsync("MULTI"));
        Assert.Equal("+QUEUED\r\n", await first.CallTextAsync("SET", k, "mine"));
        Assert.Equal("*-1\r\n", await first.CallTextAsync("EXEC"));
        Assert.Equal("$2\r\n11\r\n", await second.CallTextAsync("GET", k));

        // Changed while the transaction is queued: nil too.
        Assert.Equal("+OK\r\n", await first.CallTextAsync("WATCH", k));
        Assert.Equal("+OK\r\n", await first.CallTextAsync("MULTI"));
        Assert.Equal("+QUEUED\r\n", await first.CallTextAsync("SET", k, "mine"));
        Assert.Equal(":1\r\n", await second.CallTextAsync("DEL", k));
        Assert.Equal("*-1\r\n", await first.CallTextAsync("EXEC"));
        Assert.Equal(":0\r\n", await second.CallTextAsync("EXISTS", k));

        // Read but not changed by the other connection: the transaction runs.
        Assert.Equal("+OK\r\n", await first.CallTextAsync("WATCH", k));
        Assert.Equal("$-1\r\n", await second.CallTextAsync("GET", k));
        Assert.Equal("+OK\r\n", await first.CallTextAsync("MULTI"));
        Assert.Equal("+QUEUED\r\n", await first.CallTextAsync("SET", k, "mine"));
        Assert.Equal("*1\r\n+OK\r\n", await first.CallTextAsync("EXEC"));
        Assert.Equal("$4\r\nmine\r\n", await second.CallTextAsync("GET", k));

        // Keys of two shards cannot be watched together, nor a transaction run on another shard than its watch.
        var prefix = k + ":";
        var elsewhere = await KeyOnAnotherShardAsync(first, k, prefix);
        Assert.Equal("-CROSSSLOT Keys in request don't hash to the same slot\r\n", await first.CallTextAsync("WATCH", k, elsewhere));
        Assert.Equal("+OK\r\n", await first.CallTextAsync("WATCH", k));
        Assert.Equal("-CROSSSLOT Keys in request don't hash to the same slot\r\n", await first.CallTextAsync("WATCH", elsewhere));
        Assert.Equal("+OK\r\n", await first.CallTextAsync("MULTI"));
        Assert.Equal("-CROSSSLOT Keys in request don't hash to the same slot\r\n", await first.CallTextAsync("SET", elsewhere, "x"));
        Assert.Equal("-EXECABORT Transaction discarded because of previous errors.\r\n", await first.CallTextAsync("EXEC"));
        Assert.Equal("$-1\r\n", await second.CallTextAsync("GET", elsewhere));
    }
}
