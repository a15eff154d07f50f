using System.Globalization;
using System.Text;
using Granary.Server.Resp;
using Granary.Tests.Cluster.Infrastructure;
using Microsoft.Extensions.DependencyInjection;
using Orleans.TestingHost;

namespace Granary.Tests.Cluster.Resp;

/// <summary>One silo whose RESP endpoint has small limits: few connections, a short idle timeout, small requests.</summary>
public sealed class RespLimitsFixture : GranaryTestClusterFixture
{
    /// <summary>Most connections at once.</summary>
    public const int MaxConnections = 3;

    /// <summary>Largest request (and bulk string) in bytes.</summary>
    public const int MaxRequestBytes = 4096;

    /// <summary>How long a silent connection is kept (the active connection of the idle test sends every third of it, so a pause of the machine must last more than two thirds of it to close that one).</summary>
    public static readonly TimeSpan IdleTimeout = TimeSpan.FromSeconds(4);

    /// <summary>The silo's RESP port.</summary>
    public int Port => Cluster.Silos.OfType<InProcessSiloHandle>().Single().SiloHost.Services.GetRequiredService<RespEndpoint>().LocalEndPoint!.Port;

    /// <inheritdoc/>
    protected override short InitialSilos => 1;

    /// <inheritdoc/>
    protected override Task ConfigureAsync(TestClusterBuilder builder)
    {
        ArgumentNullException.ThrowIfNull(builder);
        builder.Properties["Granary:Storage:Mode"] = "Memory";
        builder.Properties["Granary:Resp:Port"] = "0";
        builder.Properties["Granary:Resp:MaxConnections"] = MaxConnections.ToString(CultureInfo.InvariantCulture);
        builder.Properties["Granary:Resp:IdleTimeout"] = IdleTimeout.ToString("c", CultureInfo.InvariantCulture);
        builder.Properties["Granary:Resp:MaxRequestBytes"] = MaxRequestBytes.ToString(CultureInfo.InvariantCulture);
        builder.Properties["Granary:Resp:MaxBulkLength"] = MaxRequestBytes.ToString(CultureInfo.InvariantCulture);
        return Task.CompletedTask;
    }
}

/// <summary>The endpoint's limits: MaxConnections, IdleTimeout, MaxRequestBytes; each refuses the one connection that crosses it.</summary>
public sealed class RespLimitsTests(RespLimitsFixture limits) : IClassFixture<RespLimitsFixture>
{
    private static readonly TimeSpan Deadline = WireLimits<RespWire>.Deadline;

    private WireLimits<RespWire> Limits => new(ServedConnectionAsync, async wire => Assert.Equal("+PONG\r\n", await wire.CallTextAsync("PING")), ClosedByServerAsync);

    [Fact]
    public Task One_connection_beyond_max_connections_is_refused_and_closed_and_the_others_go_on() =>
        Limits.OneBeyondTheLimitIsRefusedAsync(RespLimitsFixture.MaxConnections, () => RespWire.ConnectAsync(limits.Port), "-ERR max number of clients reached\r\n");

    [Fact]
    public Task A_silent_connection_is_closed_after_the_idle_timeout_and_an_active_one_is_not() =>
        Limits.SilentIsClosedAndActiveIsNotAsync(RespLimitsFixture.IdleTimeout);

    [Fact]
    public async Task A_request_beyond_max_request_bytes_is_a_protocol_error_and_closes_only_that_connection()
    {
        await using var bystander = await ServedConnectionAsync();
        await using var wire = await ServedConnectionAsync();

        // A bulk string within MaxBulkLength whose bytes never end: the buffered request crosses MaxRequestBytes.
        var header = Encoding.ASCII.GetBytes($"*3\r\n$3\r\nSET\r\n$1\r\nk\r\n${RespLimitsFixture.MaxRequestBytes}\r\n");
        await wire.SendRawAsync([.. header, .. new byte[RespLimitsFixture.MaxRequestBytes - 1].Select(_ => (byte)'x')]);
        Assert.Equal($"-ERR Protocol error: request exceeds {RespLimitsFixture.MaxRequestBytes} bytes\r\n", Encoding.UTF8.GetString(await wire.ReadReplyAsync()));
        Assert.True(await wire.IsClosedByServerAsync(), "the connection should be closed after the protocol error");
        Assert.Equal("$-1\r\n", await bystander.CallTextAsync("GET", "k"));

        // A bulk length beyond MaxBulkLength is refused as soon as its header arrives.
        await using var big = await ServedConnectionAsync();
        await big.SendRawAsync(Encoding.ASCII.GetBytes($"*3\r\n$3\r\nSET\r\n$1\r\nk\r\n${RespLimitsFixture.MaxRequestBytes + 1}\r\n"));
        Assert.Equal("-ERR Protocol error: invalid bulk length\r\n", Encoding.UTF8.GetString(await big.ReadReplyAsync()));
        Assert.True(await big.IsClosedByServerAsync(), "the connection should be closed after the protocol error");
        Assert.Equal("+PONG\r\n", await bystander.CallTextAsync("PING"));
    }

    /// <summary>Asserts that the server sends <paramref name="expected"/> (one reply, or nothing) and closes the connection.</summary>
    private static async Task ClosedByServerAsync(RespWire wire, string expected)
    {
        if (expected.Length > 0)
        {
            Assert.Equal(expected, Encoding.UTF8.GetString(await wire.ReadReplyAsync()));
        }

        Assert.True(await wire.IsClosedByServerAsync(), "the server should have closed the connection");
    }

    /// <summary>A connection that the endpoint serves (a place may take a moment to free after a client leaves).</summary>
    private async Task<RespWire> ServedConnectionAsync() =>
        await Eventually.ValueAsync(
            "a RESP connection is served",
            async () =>
            {
                var wire = await RespWire.ConnectAsync(limits.Port);
                if (await wire.CallTextAsync("PING") == "+PONG\r\n")
                {
                    return wire;
                }

                await wire.DisposeAsync();
                return null;
            },
            wire => wire is not null,
            Deadline) ?? throw new InvalidOperationException("unreachable");
}
