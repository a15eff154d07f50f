using System.Collections.Concurrent;
using System.Net;
using System.Net.Sockets;
using Granary.Caching;
using Granary.Client.Caching;
using Granary.Server.Wire;
using Microsoft.Extensions.Logging;
using Microsoft.Extensions.Options;

namespace Granary.Server.Resp;

/// <summary>
/// The silo's RESP endpoint: a socket listener (<see cref="WireListener{TConnection}"/>) started once the
/// silo is active and stopped before it leaves. Each connection is served by a <see cref="RespConnection"/>;
/// the caches are reached through one <see cref="CacheClient"/> per selected cache, shared by all
/// connections (the same router and batchers the SDK uses).
/// </summary>
internal sealed class RespEndpoint(IOptions<RespOptions> options, IGrainFactory grains, RespCluster cluster, ILogger<RespEndpoint> logger, ILocalCacheShards? localShards = null) : ILifecycleParticipant<ISiloLifecycle>, IWireProtocol<RespConnection>, IAsyncDisposable
{
    private static readonly byte[] TooManyClients = "-ERR max number of clients reached\r\n"u8.ToArray();

    private readonly ConcurrentDictionary<string, Lazy<Task<CacheClient>>> _caches = new(StringComparer.Ordinal);
    private readonly WireListener<RespConnection> _listener = new(RespOptions.SectionName, options.Value.MaxConnections, TooManyClients);
    private int _disposed;

    /// <summary>The options.</summary>
    public RespOptions Options { get; } = options.Value;

    /// <summary>Cluster mode: this silo as a Redis Cluster node.</summary>
    public RespCluster Cluster => cluster;

    /// <summary>The password connections must give, or null.</summary>
    public string? Password { get; } = options.Value.ResolvePassword();

    /// <summary>The bound endpoint once listening.</summary>
    public IPEndPoint? LocalEndPoint => _listener.LocalEndPoint;

    /// <summary>Connections open now.</summary>
    public int ConnectionCount => _listener.ConnectionCount;

    /// <summary>Connections accepted, and refused for <see cref="RespOptions.MaxConnections"/>, since start.</summary>
    public (long Received, long Rejected) ConnectionCounters => _listener.ConnectionCounters;

    /// <summary>The open connections.</summary>
    public ICollection<RespConnection> Connections => _listener.Connections;

    /// <summary>The caches connected so far, by database index.</summary>
    public IEnumerable<(int Index, CacheClient Client)> OpenCaches()
    {
        for (var i = 0; i < Options.Caches.Length; i++)
        {
            if (Connected(i) is { } client)
            {
                yield return (i, client);
            }
        }
    }

    /// <summary>The client of database <paramref name="index"/>'s cache (connected on first use; a failed connect is retried next time).</summary>
    public ValueTask<CacheClient> CacheAsync(int index) => Connected(index) is { } client ? new(client) : new(ConnectCacheAsync(index));

    /// <summary>Database <paramref name="index"/>'s client if it is connected; null before its first use or while it connects.</summary>
    private CacheClient? Connected(int index) =>
        _caches.TryGetValue(Options.Caches[index], out var lazy) && lazy.IsValueCreated && lazy.Value.IsCompletedSuccessfully ? lazy.Value.Result : null;

    private async Task<CacheClient> ConnectCacheAsync(int index)
    {
        var name = Options.Caches[index];
        var lazy = _caches.GetOrAdd(name, n => new Lazy<Task<CacheClient>>(() => CacheClient.ConnectAsync(grains, n, new CacheClientOptions { LocalShards = localShards })));
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
        var local = _listener.Start(this, Options.Address, Options.Port!.Value);
        await cluster.StartAsync(local);
    }

    private async Task StopAsync(CancellationToken cancellationToken)
    {
        await cluster.StopAsync();
        await _listener.StopAsync(cancellationToken);
    }

    RespConnection IWireProtocol<RespConnection>.Open(Socket socket, long id) => new(this, socket, id, logger);

    void IWireProtocol<RespConnection>.Listening(IPEndPoint local) =>
        RespLog.Listening(logger, local.ToString(), Options.Caches[0], Password is not null, local.Port);

    void IWireProtocol<RespConnection>.ListenFailed(Exception exception, string endPoint) => RespLog.ListenFailed(logger, exception, endPoint);

    void IWireProtocol<RespConnection>.AcceptFailed(Exception exception) => RespLog.AcceptFailed(logger, exception);

    /// <inheritdoc/>
    public async ValueTask DisposeAsync()
    {
        // The container disposes the instance once per registration that hands it out (the class and the
        // lifecycle participant): the second call has nothing left to do.
        if (Interlocked.Exchange(ref _disposed, 1) == 1)
        {
            return;
        }

        _listener.Dispose();
        foreach (var lazy in _caches.Values)
        {
            if (lazy.IsValueCreated && lazy.Value.IsCompletedSuccessfully)
            {
                await lazy.Value.Result.DisposeAsync();
            }
        }
    }
}
