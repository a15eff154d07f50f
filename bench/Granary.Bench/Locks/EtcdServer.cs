using System.ComponentModel;
using System.Diagnostics;
using System.Globalization;
using System.Net;
using System.Net.Sockets;
using Granary.Cli.Cli;

namespace Granary.Bench.Locks;

/// <summary>
/// A private single-member etcd for the lock peer: the <c>etcd</c> binary on PATH, started on free
/// loopback ports with its data (write-ahead log fsynced on every commit, as etcd always does) in a
/// new temporary directory, stopped and deleted on dispose.
/// </summary>
public sealed class EtcdServer : IAsyncDisposable
{
    private static readonly TimeSpan StartTimeout = TimeSpan.FromSeconds(30);
    private readonly Process _process;
    private readonly DirectoryInfo _directory;
    private readonly Queue<string> _lastLines = new();

    private EtcdServer(Process process, DirectoryInfo directory, string endpoint)
    {
        _process = process;
        _directory = directory;
        Endpoint = endpoint;
    }

    /// <summary>Client URL, <c>http://127.0.0.1:PORT</c>.</summary>
    public string Endpoint { get; }

    /// <summary>The etcd process.</summary>
    public int Pid => _process.Id;

    /// <summary>Starts etcd and waits (up to 30 s) until it reports itself healthy.</summary>
    public static async Task<EtcdServer> StartAsync(CancellationToken cancellationToken)
    {
        var directory = Directory.CreateTempSubdirectory("granary-etcd-");
        var client = FreePort();
        var peer = FreePort();
        var endpoint = string.Create(CultureInfo.InvariantCulture, $"http://127.0.0.1:{client}");
        var peerUrl = string.Create(CultureInfo.InvariantCulture, $"http://127.0.0.1:{peer}");
        var start = new ProcessStartInfo("etcd")
        {
            UseShellExecute = false,
            RedirectStandardOutput = true,
            RedirectStandardError = true,
        };
        foreach (var argument in new[]
        {
            "--name", "bench", "--data-dir", Path.Combine(directory.FullName, "data"),
            "--listen-client-urls", endpoint, "--advertise-client-urls", endpoint,
            "--listen-peer-urls", peerUrl, "--initial-advertise-peer-urls", peerUrl,
            "--initial-cluster", "bench=" + peerUrl, "--logger", "zap", "--log-level", "error",
        })
        {
            start.ArgumentList.Add(argument);
        }

        Process process;
        try
        {
            process = Process.Start(start) ?? throw new UsageException("--peer etcd: could not start etcd");
        }
        catch (Win32Exception ex)
        {
            directory.Delete(recursive: true);
            throw new UsageException($"--peer etcd needs the etcd binary on PATH ({ex.Message})");
        }

        var server = new EtcdServer(process, directory, endpoint);
        process.OutputDataReceived += (_, e) => server.Keep(e.Data);
        process.ErrorDataReceived += (_, e) => server.Keep(e.Data);
        process.BeginOutputReadLine();
        process.BeginErrorReadLine();
        try
        {
            await server.WaitHealthyAsync(cancellationToken);
            return server;
        }
        catch
        {
            await server.DisposeAsync();
            throw;
        }
    }

    /// <inheritdoc/>
    public async ValueTask DisposeAsync()
    {
        try
        {
            if (!_process.HasExited)
            {
                _process.Kill(entireProcessTree: true);
            }

            await _process.WaitForExitAsync();
        }
        catch (InvalidOperationException)
        {
            // Never started.
        }

        _process.Dispose();
        try
        {
            _directory.Delete(recursive: true);
        }
        catch (IOException)
        {
            // Left in the temporary directory.
        }
    }

    private async Task WaitHealthyAsync(CancellationToken cancellationToken)
    {
        using var http = new HttpClient { Timeout = TimeSpan.FromSeconds(2) };
        var deadline = Stopwatch.StartNew();
        while (true)
        {
            if (_process.HasExited)
            {
                throw new UsageException($"--peer etcd: etcd exited with code {_process.ExitCode}: {LastLines()}");
            }

            try
            {
                var health = await http.GetStringAsync(new Uri(Endpoint + "/health"), cancellationToken);
                if (health.Contains("\"health\":\"true\"", StringComparison.Ordinal))
                {
                    return;
                }
            }
            catch (HttpRequestException)
            {
                // Not listening yet.
            }
            catch (TaskCanceledException) when (!cancellationToken.IsCancellationRequested)
            {
                // This attempt timed out.
            }

            if (deadline.Elapsed > StartTimeout)
            {
                throw new UsageException($"--peer etcd: etcd at {Endpoint} not healthy after {StartTimeout.TotalSeconds:F0} s: {LastLines()}");
            }

            await Task.Delay(TimeSpan.FromMilliseconds(100), cancellationToken);
        }
    }

    private void Keep(string? line)
    {
        if (line is null)
        {
            return;
        }

        lock (_lastLines)
        {
            _lastLines.Enqueue(line);
            while (_lastLines.Count > 20)
            {
                _lastLines.Dequeue();
            }
        }
    }

    private string LastLines()
    {
        lock (_lastLines)
        {
            return string.Join(Environment.NewLine, _lastLines);
        }
    }

    private static int FreePort()
    {
        using var listener = new TcpListener(IPAddress.Loopback, 0);
        listener.Start();
        return ((IPEndPoint)listener.LocalEndpoint).Port;
    }
}
