using System.Diagnostics;
using System.Globalization;
using System.Net.Sockets;
using System.Text;

namespace Granary.Tests.Cluster.Infrastructure;

/// <summary>
/// A private <c>memcached</c> child process on a free loopback port (no UDP, two threads, 64 MiB), for
/// one test class. It answers <c>version</c> before <see cref="StartAsync"/> returns.
/// </summary>
public sealed class MemcachedServer : IAsyncDisposable
{
    private static readonly TimeSpan StartTimeout = TimeSpan.FromSeconds(30);

    private readonly Process _process;
    private readonly OutputTail _output;
    private int _disposed;

    private MemcachedServer(Process process, OutputTail output, int port)
    {
        _process = process;
        _output = output;
        Port = port;
    }

    /// <summary>The loopback TCP port the server listens on.</summary>
    public int Port { get; }

    /// <summary>Starts a server and returns once it answers <c>version</c>.</summary>
    /// <exception cref="InvalidOperationException">memcached is not installed, or it failed to start.</exception>
    public static async Task<MemcachedServer> StartAsync(CancellationToken ct = default)
    {
        var executable = ChildProcess.FindExecutable("memcached", "/usr/bin", "/usr/local/bin")
            ?? throw new InvalidOperationException("memcached was not found on PATH or in /usr/bin. Run scripts/test.sh, which installs it (Debian package memcached).");
        var port = FreePort.Next();
        var startInfo = new ProcessStartInfo(executable) { RedirectStandardOutput = true, RedirectStandardError = true, UseShellExecute = false };
        string[] arguments = ["-p", port.ToString(CultureInfo.InvariantCulture), "-U", "0", "-l", "127.0.0.1", "-t", "2", "-m", "64"];
        foreach (var argument in arguments)
        {
            startInfo.ArgumentList.Add(argument);
        }

        if (ChildProcess.IsRoot)
        {
            // memcached refuses to run as root unless told which user to be.
            startInfo.ArgumentList.Add("-u");
            startInfo.ArgumentList.Add("root");
        }

        var output = new OutputTail(maxLines: 100);
        var process = new Process { StartInfo = startInfo };
        process.OutputDataReceived += (_, e) => output.Add(e.Data);
        process.ErrorDataReceived += (_, e) => output.Add(e.Data);
        process.Start();
        process.BeginOutputReadLine();
        process.BeginErrorReadLine();
        var server = new MemcachedServer(process, output, port);
        try
        {
            await Eventually.TrueAsync($"memcached on port {port} answers version", async () =>
            {
                if (process.HasExited)
                {
                    throw new InvalidOperationException($"memcached on port {port} exited with code {process.ExitCode}. Output:{Environment.NewLine}{output}");
                }

                try
                {
                    using var client = new TcpClient();
                    await client.ConnectAsync("127.0.0.1", port, ct);
                    var stream = client.GetStream();
                    await stream.WriteAsync("version\r\n"u8.ToArray(), ct);
                    var buffer = new byte[64];
                    var read = await stream.ReadAsync(buffer, ct);
                    return Encoding.ASCII.GetString(buffer, 0, read).StartsWith("VERSION ", StringComparison.Ordinal);
                }
                catch (SocketException)
                {
                    return false;
                }
            }, StartTimeout);
            return server;
        }
        catch
        {
            await server.DisposeAsync();
            throw;
        }
    }

    /// <summary>Kills the server and waits for it to exit.</summary>
    public async ValueTask DisposeAsync()
    {
        if (Interlocked.Exchange(ref _disposed, 1) != 0)
        {
            return;
        }

        if (!_process.HasExited)
        {
            _process.Kill();
        }

        await _process.WaitForExitAsync();
        _process.Dispose();
    }
}
