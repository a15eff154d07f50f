using System.Diagnostics;
using System.Globalization;
using System.Net;
using System.Net.Sockets;
using System.Text;
using Granary.Bench.Peers;
using Granary.Cli.Cli;

namespace Granary.Bench.Locks;

/// <summary>
/// A private standalone ZooKeeper for the lock peer: ZooKeeper's server class from its jar (Debian's
/// <c>zookeeper</c> package puts it at <c>/usr/share/java/zookeeper.jar</c>; <c>GRANARY_ZOOKEEPER_JAR</c>
/// names another), run by <c>java</c> on PATH on a free loopback port, with its data in a new temporary
/// directory. ZooKeeper's defaults are kept: every transaction is fsynced to its log before it is
/// acknowledged (<c>forceSync=yes</c>).
/// </summary>
public sealed class ZooKeeperServer : IAsyncDisposable
{
    private static readonly TimeSpan StartTimeout = TimeSpan.FromSeconds(60);
    private readonly PeerProcess _process;

    private ZooKeeperServer(PeerProcess process, string connectString)
    {
        _process = process;
        ConnectString = connectString;
    }

    /// <summary>The jar with ZooKeeper's client and server (its manifest names their dependencies).</summary>
    public static string Jar => Environment.GetEnvironmentVariable("GRANARY_ZOOKEEPER_JAR") is { Length: > 0 } jar ? jar : "/usr/share/java/zookeeper.jar";

    /// <summary><c>127.0.0.1:PORT</c>.</summary>
    public string ConnectString { get; }

    /// <summary>The server's process.</summary>
    public int Pid => _process.Pid;

    /// <summary>Starts ZooKeeper and waits (up to 60 s) until it answers <c>ruok</c>.</summary>
    public static async Task<ZooKeeperServer> StartAsync(CancellationToken cancellationToken)
    {
        RequireJar();
        var directory = Directory.CreateTempSubdirectory("granary-zookeeper-");
        var port = LoopbackPort.Free();
        var config = Path.Combine(directory.FullName, "zoo.cfg");
        await File.WriteAllTextAsync(config, string.Create(CultureInfo.InvariantCulture, $"""
            tickTime=2000
            dataDir={Path.Combine(directory.FullName, "data")}
            clientPort={port}
            clientPortAddress=127.0.0.1
            maxClientCnxns=0
            admin.enableServer=false
            4lw.commands.whitelist=ruok,srvr

            """), cancellationToken);
        var start = new ProcessStartInfo("java");
        foreach (var argument in new[] { "-cp", Jar, "-Dzookeeper.log.dir=" + directory.FullName, "org.apache.zookeeper.server.ZooKeeperServerMain", config })
        {
            start.ArgumentList.Add(argument);
        }

        var process = PeerProcess.Start("--peer zookeeper: ZooKeeper server", start, directory);
        var server = new ZooKeeperServer(process, string.Create(CultureInfo.InvariantCulture, $"127.0.0.1:{port}"));
        try
        {
            await process.WaitUntilAsync(ct => AnswersAsync(port, ct), StartTimeout, cancellationToken);
            return server;
        }
        catch
        {
            await server.DisposeAsync();
            throw;
        }
    }

    /// <summary>Fails with a clear message when ZooKeeper's jar is missing.</summary>
    public static void RequireJar()
    {
        if (!File.Exists(Jar))
        {
            throw new UsageException($"--peer zookeeper needs ZooKeeper's jar at {Jar} (Debian: apt-get install zookeeper; or set GRANARY_ZOOKEEPER_JAR) and java on PATH");
        }
    }

    /// <inheritdoc/>
    public ValueTask DisposeAsync() => _process.DisposeAsync();

    private static async Task<bool> AnswersAsync(int port, CancellationToken cancellationToken)
    {
        try
        {
            using var timeout = CancellationTokenSource.CreateLinkedTokenSource(cancellationToken);
            timeout.CancelAfter(TimeSpan.FromSeconds(2));
            using var socket = new Socket(AddressFamily.InterNetwork, SocketType.Stream, ProtocolType.Tcp);
            await socket.ConnectAsync(IPAddress.Loopback, port, timeout.Token);
            await socket.SendAsync("ruok"u8.ToArray(), SocketFlags.None, timeout.Token);
            var buffer = new byte[16];
            var read = await socket.ReceiveAsync(buffer, SocketFlags.None, timeout.Token);
            return Encoding.ASCII.GetString(buffer, 0, read) == "imok";
        }
        catch (SocketException)
        {
            return false; // Not listening yet.
        }
        catch (OperationCanceledException) when (!cancellationToken.IsCancellationRequested)
        {
            return false; // This attempt timed out.
        }
    }
}
