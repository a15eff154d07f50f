using System.Net;
using System.Net.Sockets;

namespace Granary.Cli.Cli;

/// <summary>Free TCP ports on the loopback interface, for servers the console and the bench start themselves.</summary>
public static class LoopbackPort
{
    /// <summary>A port nothing listens on right now (the operating system's choice; another process may still take it before it is used).</summary>
    public static int Free()
    {
        using var listener = new TcpListener(IPAddress.Loopback, 0);
        listener.Start();
        return ((IPEndPoint)listener.LocalEndpoint).Port;
    }
}
