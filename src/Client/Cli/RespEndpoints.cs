using System.Net.Sockets;
using System.Text;
using Granary.Resp;

namespace Granary.Cli.Cli;

/// <summary>
/// The silos' RESP endpoints as the cluster's endpoint directory lists them (each silo with
/// <c>Granary:Resp:Port</c> set announces its endpoint when it starts and every 10 s), and a check
/// that one answers before the console tells a user to connect to it.
/// </summary>
public static class RespEndpoints
{
    private static readonly TimeSpan PingTimeout = TimeSpan.FromSeconds(2);

    /// <summary>The endpoints of the active silos by silo address (empty when no silo serves RESP).</summary>
    public static async Task<IReadOnlyDictionary<SiloAddress, RespNode>> ListAsync(IGrainFactory grains)
    {
        ArgumentNullException.ThrowIfNull(grains);
        var nodes = await grains.GetGrain<IRespNodeDirectoryGrain>(0).ListAsync();
        return nodes.ToDictionary(n => n.Silo);
    }

    /// <summary>
    /// Sends <c>PING</c> to <paramref name="node"/>: <c>+PONG</c> is true, <c>-NOAUTH</c> (a password is
    /// set) is true with <paramref name="needsPassword"/> set; anything else, a refused connection or
    /// no answer within 2 s is false.
    /// </summary>
    public static async Task<(bool Answers, bool NeedsPassword)> PingAsync(RespNode node, CancellationToken cancellationToken)
    {
        ArgumentNullException.ThrowIfNull(node);
        using var timeout = CancellationTokenSource.CreateLinkedTokenSource(cancellationToken);
        timeout.CancelAfter(PingTimeout);
        try
        {
            using var client = new TcpClient();
            await client.ConnectAsync(node.Host, node.Port, timeout.Token);
            var stream = client.GetStream();
            await stream.WriteAsync("PING\r\n"u8.ToArray(), timeout.Token);
            var buffer = new byte[64];
            var read = await stream.ReadAsync(buffer, timeout.Token);
            var reply = Encoding.ASCII.GetString(buffer, 0, read);
            return reply.StartsWith("+PONG", StringComparison.Ordinal) ? (true, false)
                : reply.StartsWith("-NOAUTH", StringComparison.Ordinal) ? (true, true)
                : (false, false);
        }
        catch (Exception ex) when (ex is SocketException or IOException || (ex is OperationCanceledException && !cancellationToken.IsCancellationRequested))
        {
            return (false, false);
        }
    }

    /// <summary>The line a user can paste: <c>redis-cli -h HOST -p PORT</c> (<c>--askpass</c> when a password is set).</summary>
    public static string RedisCliLine(RespNode node, bool needsPassword)
    {
        ArgumentNullException.ThrowIfNull(node);
        var host = node.Host is "127.0.0.1" ? string.Empty : $"-h {node.Host} ";
        return $"redis-cli {host}-p {node.Port}{(needsPassword ? " --askpass" : string.Empty)}";
    }
}
