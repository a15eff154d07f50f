using System.Net;
using System.Net.Sockets;

namespace Granary.Tests.Cluster.Infrastructure;

/// <summary>
/// Hands out TCP ports on 127.0.0.1 that were free when asked for.
/// </summary>
/// <remarks>
/// The kernel picks the port (bind to port 0), and the listener is closed again before
/// returning, so another process could still take the port before the caller binds it;
/// servers started with such a port should retry on "address in use". Within one test
/// run a port is never handed out twice.
/// <code>var port = FreePort.Next();</code>
/// </remarks>
public static class FreePort
{
    private const int MaxAttempts = 1000;

    private static readonly HashSet<int> Issued = [];
    private static readonly Lock IssuedLock = new();

    /// <summary>Returns a loopback TCP port that no one listened on and that this process has not handed out before.</summary>
    public static int Next()
    {
        lock (IssuedLock)
        {
            for (var attempt = 0; attempt < MaxAttempts; attempt++)
            {
                using var listener = new TcpListener(IPAddress.Loopback, 0);
                listener.Start();
                var port = ((IPEndPoint)listener.LocalEndpoint).Port;
                listener.Stop();
                if (Issued.Add(port))
                {
                    return port;
                }
            }
        }

        throw new InvalidOperationException($"No unused loopback port found after {MaxAttempts} attempts.");
    }
}
