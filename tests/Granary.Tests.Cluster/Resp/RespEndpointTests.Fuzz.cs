using System.Globalization;
using System.Net.Sockets;
using System.Text;

namespace Granary.Tests.Cluster.Resp;

/// <summary>Malformed input: answered with Redis's protocol errors, that connection closed, nothing else affected.</summary>
public sealed partial class RespEndpointTests
{
    private const int FuzzConnections = 60;

    public static TheoryData<string, string> MalformedFrames => new()
    {
        { "*abc\r\n", "invalid multibulk length" },
        { "*2\r\n:1\r\n", "expected '$', got ':'" },
        { "*1\r\n$-5\r\n", "invalid bulk length" },
        { "*1\r\n$x\r\n", "invalid bulk length" },
        { $"*{RespClusterFixture.MaxMultibulkCount + 1}\r\n", "invalid multibulk length" },
        { $"*2\r\n$3\r\nGET\r\n${RespClusterFixture.MaxBulkLength + 1}\r\n", "invalid bulk length" },
        { "*1\r\n$4\r\nPINGxx", "expected CRLF after a bulk string" },
        { "SET \"unterminated value\r\n", "unbalanced quotes in request" },
    };

    [Theory]
    [MemberData(nameof(MalformedFrames))]
    public async Task Malformed_frames_get_redis_protocol_errors_after_the_commands_before_them_and_close_the_connection(string frame, string error)
    {
        var key = "malformed:" + Guid.NewGuid().ToString("N");
        await using var wire = await resp.ConnectAsync();
        await wire.SendRawAsync([.. RespWire.Encode("SET", key, "before"), .. Encoding.ASCII.GetBytes(frame)]);
        Assert.Equal("+OK\r\n", Encoding.UTF8.GetString(await wire.ReadReplyAsync()));
        Assert.Equal($"-ERR Protocol error: {error}\r\n", Encoding.UTF8.GetString(await wire.ReadReplyAsync()));
        Assert.True(await wire.IsClosedByServerAsync(), "the connection should be closed after a protocol error");

        await using var next = await resp.ConnectAsync();
        Assert.Equal("$6\r\nbefore\r\n", await next.CallTextAsync("GET", key));
    }

    [Fact]
    public async Task Before_authentication_only_small_frames_are_read()
    {
        await using var anonymous = await RespWire.ConnectAsync(resp.Port);
        await anonymous.SendRawAsync(Encoding.ASCII.GetBytes("*11\r\n"));
        Assert.Equal("-ERR Protocol error: invalid multibulk length\r\n", Encoding.UTF8.GetString(await anonymous.ReadReplyAsync()));
        Assert.True(await anonymous.IsClosedByServerAsync());
    }

    [Fact]
    public async Task Random_and_truncated_frames_leave_the_silo_and_other_connections_working()
    {
        var key = "fuzz:" + Guid.NewGuid().ToString("N");
        await using var bystander = await resp.ConnectAsync(resp.Ports[1]);
        Assert.Equal("+OK\r\n", await bystander.CallTextAsync("SET", key, "kept"));
        var random = new Random(2121);
        var valid = RespWire.Encode("SET", key + ":fuzzed", "value", "EX", "100");
        var closed = 0;
        for (var i = 0; i < FuzzConnections; i++)
        {
            byte[] input = (i % 4) switch
            {
                0 => [.. Enumerable.Range(0, random.Next(1, 300)).Select(_ => (byte)random.Next(256))],
                1 => valid[..random.Next(1, valid.Length)],
                2 => Corrupt(valid, random),
                _ => [(byte)'*', .. Encoding.ASCII.GetBytes(random.Next(-3, 20).ToString(CultureInfo.InvariantCulture)), (byte)'\r', (byte)'\n', .. Enumerable.Range(0, random.Next(0, 60)).Select(_ => (byte)"$\r\n0123456789*:+-abc"[random.Next(19)])],
            };
            await using var wire = await resp.ConnectAsync();
            await wire.SendRawAsync(input);

            // End of input: the server answers what was complete, then closes its side.
            wire.ShutdownSend();
            closed += await wire.DrainUntilClosedAsync() ? 1 : 0;
        }

        Assert.Equal(FuzzConnections, closed);
        Assert.Equal("$4\r\nkept\r\n", await bystander.CallTextAsync("GET", key));
        await using var fresh = await resp.ConnectAsync();
        Assert.Equal("+PONG\r\n", await fresh.CallTextAsync("PING"));
        Assert.Equal("$4\r\nkept\r\n", await fresh.CallTextAsync("GET", key));
    }

    private static byte[] Corrupt(byte[] frame, Random random)
    {
        var copy = (byte[])frame.Clone();
        copy[random.Next(copy.Length)] = (byte)random.Next(256);
        return copy;
    }
}
