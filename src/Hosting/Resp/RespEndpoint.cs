using System.Collections.Concurrent;
using System.Net;
using System.Net.Sockets;
using Granary.Client.Caching;
using Microsoft.Extensions.Logging;
using Microsoft.Extensions.Options;

namespace Granary.Server.Resp;

/// <summary>
/// The silo's RESP endpoint: a socket listener started once the silo is active and stopped before it
/// leaves. Each connection is served by a <see cref="RespConnection"/>; the caches are reached through
/// one <see cref="CacheClient"/> per selected cache, shared by all connections (the same router and
/// batchers the SDK uses).
/// </summary>
internal sealed class RespEndpoint(IOptions<RespOptions> options, IGrainFactory grains, RespCluster cluster, ILogger<RespEndpoint> logger) : ILifecycleParticipant<ISiloLifecycle>, IAsyncDisposable
{
    private readonly ConcurrentDictionary<string, Lazy<Task<CacheClient>>> _caches = new(StringComparer.Ordinal);
    private readonly ConcurrentDictionary<long, RespConnection> _connections = new();
    private readonly CancellationTokenSource _stopping = new();
    private int _disposed;
    private Socket? _listener;
    private Task _accepting = Task.CompletedTask;
    private long _nextClientId;
    private long _connectionsReceived;
    private long _rejected;

    /// <summary>The options.</summary>
    public RespOptions Options { get; } = options.Value;

    /// <summary>Cluster mode: this silo as a Redis Cluster node.</summary>
    public RespCluster Cluster => cluster;

    /// <summary>The password connections must give, or null.</summary>
    public string? Password { get; } = options.Value.ResolvePassword();

    /// <summary>The bound endpoint once listening.</summary>
    public IPEndPoint? LocalEndPoint => _listener?.LocalEndPoint as IPEndPoint;

    /// <summary>Connections open now.</summary>
    public int ConnectionCount => _connections.Count;

    /// <summary>Connections accepted, and refused for <see cref="RespOptions.MaxConnections"/>, since start.</summary>
    public (long Received, long Rejected) ConnectionCounters => (Interlocked.Read(ref _connectionsReceived), Interlocked.Read(ref _rejected));

    /// <summary>The open connections.</summary>
    public ICollection<RespConnection> Connections => _connections.Values;

    /// <summary>The caches connected so far, by database index.</summary>
    public IEnumerable<(int Index, CacheClient Client)> OpenCaches()
    {
        for (var i = 0; i < Options.Caches.Length; i++)
        {
            if (_caches.TryGetValue(Options.Caches[i], out var lazy) && lazy.IsValueCreated && lazy.Value.IsCompletedSuccessfully)
            {
                yield return (i, lazy.Value.Result);
            }
        }
    }

    /// <summary>The client of database <paramref name="index"/>'s cache (connected on first use; a failed connect is retried next time).</summary>
    public async Task<CacheClient> CacheAsync(int index)
    {
        var name = Options.Caches[index];
        var lazy = _caches.GetOrAdd(name, n => new Lazy<Task<CacheClient>>(() => CacheClient.ConnectAsync(grains, n)));
        try
        {
            return await lazy.Value;
        }
        catch
        {
            _caches.TryRemove(new KeyValuePair<string, Lazy<Task<CacheClient>>>(name, lazy));
            throw;
        }
    }

    /// <inheritdoc/>
    public void Participate(ISiloLifecycle lifecycle)
    {
        ArgumentNullException.ThrowIfNull(lifecycle);
        lifecycle.Subscribe(nameof(RespEndpoint), ServiceLifecycleStage.Active, StartAsync, StopAsync);
    }

    private async Task StartAsync(CancellationToken cancellationToken)
    {
        var endpoint = new IPEndPoint(IPAddress.Parse(Options.Address), Options.Port!.Value);
        var listener = new Socket(endpoint.AddressFamily, SocketType.Stream, ProtocolType.Tcp);
        try
        {
            listener.Bind(endpoint);
            listener.Listen(512);
        }
        catch (SocketException ex)
        {
            listener.Dispose();
            RespLog.ListenFailed(logger, ex, endpoint.ToString());
            throw new InvalidOperationException($"{RespOptions.SectionName}: cannot listen on {endpoint}: {ex.Message}", ex);
        }

        _listener = listener;
        var port = ((IPEndPoint)listener.LocalEndPoint!).Port;
        RespLog.Listening(logger, listener.LocalEndPoint!.ToString()!, Options.Caches[0], Password is not null, port);
        _accepting = AcceptLoopAsync(listener);
        await cluster.StartAsync((IPEndPoint)listener.LocalEndPoint!);
    }

    private async Task StopAsync(CancellationToken cancellationToken)
    {
        await cluster.StopAsync();
        await _stopping.CancelAsync();
        _listener?.Dispose();
        await _accepting;
        foreach (var connection in _connections.Values)
        {
            connection.Abort();
        }

        await Task.WhenAll(_connections.Values.Select(c => c.Completion)).WaitAsync(TimeSpan.FromSeconds(5), cancellationToken).ContinueWith(_ => { }, TaskScheduler.Default);
    }

    private async Task AcceptLoopAsync(Socket listener)
    {
        while (!_stopping.IsCancellationRequested)
        {
            Socket socket;
            try
            {
                socket = await listener.AcceptAsync(_stopping.Token);
            }
            catch (Exception ex) when (ex is OperationCanceledException or ObjectDisposedException or SocketException && _stopping.IsCancellationRequested)
            {
                return;
            }
            catch (SocketException ex)
            {
                RespLog.AcceptFailed(logger, ex);
                continue;
            }

            socket.NoDelay = true;
            Interlocked.Increment(ref _connectionsReceived);
            if (_connections.Count >= Options.MaxConnections)
            {
                Interlocked.Increment(ref _rejected);
                _ = RefuseAsync(socket);
                continue;
            }

            var id = Interlocked.Increment(ref _nextClientId);
            var connection = new RespConnection(this, socket, id, logger);
            _connections[id] = connection;
            _ = RunAsync(connection);
        }
    }

    private async Task RunAsync(RespConnection connection)
    {
        try
        {
            await connection.RunAsync(_stopping.Token);
        }
        finally
        {
            _connections.TryRemove(connection.Id, out _);
        }
    }

    private static async Task RefuseAsync(Socket socket)
    {
        using (socket)
        {
            try
            {
                await socket.SendAsync("-ERR max number of clients reached\r\n"u8.ToArray(), SocketFlags.None);
                socket.Shutdown(SocketShutdown.Both);
            }
            catch (SocketException)
            {
                // The client went first.
            }
        }
    }

    /// <inheritdoc/>
    public async ValueTask DisposeAsync()
    {
        // The container disposes the instance once per registration that hands it out (the class and the
        // lifecycle participant): the second call has nothing left to do.
        if (Interlocked.Exchange(ref _disposed, 1) == 1)
        {
            return;
        }

        _stopping.Cancel();
        _listener?.Dispose();
        foreach (var lazy in _caches.Values)
        {
            if (lazy.IsValueCreated && lazy.Value.IsCompletedSuccessfully)
            {
                await lazy.Value.Result.DisposeAsync();
            }
        }

        _stopping.Dispose();
    }
}
