using System.Text;

namespace Granary.Tests.Cluster.Memcached;

/// <summary>Malformed input: memcached's errors, a too-long line closes only its connection, nothing else is affected.</summary>
public sealed partial class MemcachedEndpointTests
{
    private const int FuzzConnections = 60;

    [Fact]
    public async Task A_line_longer_than_the_limit_is_refused_and_closes_only_that_connection()
    {
        await using var bystander = await fixture.ConnectAsync();
        var key = "long:" + Guid.NewGuid().ToString("N");
        Assert.Equal("STORED\r\n", await bystander.CallTextAsync($"set {key} 0 0 4\r\nkept\r\n"));
        await using var wire = await fixture.ConnectAsync();
        await wire.SendAsync($"get {key}\r\n" + new string('x', 4096));
        var (closed, text) = await wire.ReadUntilClosedAsync();
        Assert.True(closed, "the connection should be closed after a too-long line");
        Assert.Equal($"VALUE {key} 0 4\r\nkept\r\nEND\r\nCLIENT_ERROR line too long\r\n", text);
        Assert.Equal($"VALUE {key} 0 4\r\nkept\r\nEND\r\n", await bystander.CallTextAsync($"get {key}\r\n"));
    }

    [Fact]
    public async Task Random_and_truncated_frames_leave_the_silo_and_other_connections_working()
    {
        var key = "fuzz:" + Guid.NewGuid().ToString("N");
        await using var bystander = await fixture.ConnectAsync();
        Assert.Equal("STORED\r\n", await bystander.CallTextAsync($"set {key} 5 0 4\r\nkept\r\n"));
        var random = new Random(2121);
        var valid = Encoding.ASCII.GetBytes($"set {key}:fuzzed 1 100 5\r\nvalue\r\ngets {key}:fuzzed {key}\r\nincr {key}:n 5\r\n");
        var closed = 0;
        for (var i = 0; i < FuzzConnections; i++)
        {
            byte[] input = (i % 4) switch
            {
                0 => [.. Enumerable.Range(0, random.Next(1, 3000)).Select(_ => (byte)random.Next(256))],
                1 => valid[..random.Next(1, valid.Length)],
                2 => Corrupt(valid, random),
                _ => Encoding.ASCII.GetBytes(string.Concat(Enumerable.Range(0, random.Next(1, 12)).Select(_ => Words[random.Next(Words.Length)] + (random.Next(3) == 0 ? "\r\n" : " ")))),
            };
            await using var wire = await fixture.ConnectAsync();
            await wire.SendAsync(input);

            // End of input: the endpoint answers what was complete, then closes its side.
            wire.ShutdownSend();
            closed += (await wire.ReadUntilClosedAsync()).Closed ? 1 : 0;
        }

        Assert.Equal(FuzzConnections, closed);
        Assert.Equal($"VALUE {key} 5 4\r\nkept\r\nEND\r\n", await bystander.CallTextAsync($"get {key}\r\n"));
        await using var fresh = await fixture.ConnectAsync();
        Assert.Equal($"VALUE {key} 5 4\r\nkept\r\nEND\r\n", await fresh.CallTextAsync($"get {key}\r\n"));
    }

    private static readonly string[] Words = ["set", "get", "gets", "cas", "incr", "decr", "gat", "touch", "delete", "flush_all abc", "k", "0", "1", "-1", "4294967296", "99999999999999999999", "noreply", "\r\n", "\n", "\r", "stats", "version", "x"];

    private static byte[] Corrupt(byte[] frame, Random random)
    {
        var copy = (byte[])frame.Clone();
        copy[random.Next(copy.Length)] = (byte)random.Next(256);
        return copy;
    }
}
