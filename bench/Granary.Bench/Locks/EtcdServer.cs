using System.Diagnostics;
using System.Globalization;
using Granary.Bench.Peers;
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
    private readonly PeerProcess _process;

    private EtcdServer(PeerProcess process, string endpoint)
    {
        _process = process;
        Endpoint = endpoint;
    }

    /// <summary>Client URL, <c>http://127.0.0.1:PORT</c>.</summary>
    public string Endpoint { get; }

    /// <summary>The etcd process.</summary>
    public int Pid => _process.Pid;

    /// <summary>Starts etcd and waits (up to 30 s) until it reports itself healthy.</summary>
    public static async Task<EtcdServer> StartAsync(CancellationToken cancellationToken)
    {
        var directory = Directory.CreateTempSubdirectory("granary-etcd-");
        var endpoint = string.Create(CultureInfo.InvariantCulture, $"http://127.0.0.1:{LoopbackPort.Free()}");
        var peerUrl = string.Create(CultureInfo.InvariantCulture, $"http://127.0.0.1:{LoopbackPort.Free()}");
        var start = new ProcessStartInfo("etcd");
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

        var process = PeerProcess.Start("--peer etcd: etcd", start, directory);
        var server = new EtcdServer(process, endpoint);
        try
        {
            using var http = new HttpClient { Timeout = TimeSpan.FromSeconds(2) };
            await process.WaitUntilAsync(async ct =>
            {
                try
                {
                    var health = await http.GetStringAsync(new Uri(endpoint + "/health"), ct);
                    return health.Contains("\"health\":\"true\"", StringComparison.Ordinal);
                }
                catch (HttpRequestException)
                {
                    return false; // Not listening yet.
                }
                catch (TaskCanceledException) when (!ct.IsCancellationRequested)
                {
                    return false; // This attempt timed out.
                }
            }, StartTimeout, cancellationToken);
            return server;
        }
        catch
        {
            await server.DisposeAsync();
            throw;
        }
    }

    /// <inheritdoc/>
    public ValueTask DisposeAsync() => _process.DisposeAsync();
}
