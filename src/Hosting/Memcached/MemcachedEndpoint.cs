using System.Net;
using System.Net.Sockets;
using Granary.Caching;
using Granary.Client.Caching;
using Granary.Server.Wire;
using Microsoft.Extensions.Logging;
using Microsoft.Extensions.Options;

namespace Granary.Server.Memcached;

/// <summary>
/// The silo's Memcached text-protocol endpoint: a socket listener (<see cref="WireListener{TConnection}"/>)
/// started once the silo is active and stopped before it leaves. Each connection is served by a
/// <see cref="MemcachedConnection"/>; the cache is reached through one <see cref="CacheClient"/> shared by
/// all connections (the same router and batchers the SDK uses).
/// </summary>
internal sealed class MemcachedEndpoint(IOptions<MemcachedOptions> options, IGrainFactory grains, ILogger<MemcachedEndpoint> logger, ILocalCacheShards? localShards = null) : ILifecycleParticipant<ISiloLifecycle>, IWireProtocol<MemcachedConnection>, IAsyncDisposable
{
    /// <summary>The version the endpoint reports (the protocol generation it follows, and who answers).</summary>
    internal const string Version = "1.6.0-granary";

    /// <summary>memcached's answer when it is over its connection limit.</summary>
    private static readonly byte[] TooManyConnections = "ERROR Too many open connections\r\n"u8.ToArray();

    private readonly WireListener<MemcachedConnection> _listener = new(MemcachedOptions.SectionName, options.Value.MaxConnections, TooManyConnections);
    private int _disposed;
    private readonly long _startedTicks = Environment.TickCount64;
    private readonly Lock _flushLock = new();
    private Lazy<Task<CacheClient>>? _cache;
    private CancellationTokenSource? _delayedFlush;

    /// <summary>The options.</summary>
    public MemcachedOptions Options { get; } = options.Value;

    /// <summary>The bound endpoint once listening.</summary>
    public IPEndPoint? LocalEndPoint => _listener.LocalEndPoint;

    /// <summary>Connections open now.</summary>
    public int ConnectionCount => _listener.ConnectionCount;

    /// <summary>Connections accepted, and refused for <see cref="MemcachedOptions.MaxConnections"/>, since start.</summary>
    public (long Received, long Rejected) ConnectionCounters => _listener.ConnectionCounters;

    /// <summary>Seconds since the endpoint started.</summary>
    public long UptimeSeconds => (Environment.TickCount64 - _startedTicks) / 1000;

    /// <summary>The counters <c>stats</c> reports, shared by all connections.</summary>
    public MemcachedCounters Counters { get; } = new();

    /// <summary>
    /// Grain calls to the cache's shards and the commands they carried, and the commands run on shards of
    /// this silo without a grain call; zeros before the first command.
    /// </summary>
    public (long Calls, long Commands, long Local) BatchingCounters
    {
        get
        {
            if (Connected is not { } client)
            {
                return default;
            }

            var (calls, commands) = client.BatchingCounters;
            return (calls, commands, client.LocalCommands);
        }
    }

    /// <summary>The cache's client (connected on first use; a failed connect is retried next time).</summary>
    public ValueTask<CacheClient> CacheAsync() => Connected is { } client ? new(client) : new(ConnectCacheAsync());

    /// <summary>The cache's client if it is connected; null before the first command or while it connects.</summary>
    private CacheClient? Connected => _cache is { IsValueCreated: true, Value: { IsCompletedSuccessfully: true } connected } ? connected.Result : null;

    private async Task<CacheClient> ConnectCacheAsync()
    {
        var lazy = _cache ?? Interlocked.CompareExchange(ref _cache, new Lazy<Task<CacheClient>>(() => CacheClient.ConnectAsync(grains, Options.Cache, new CacheClientOptions { LocalShards = localShards })), null) ?? _cache;
        try
        {
            return await lazy.Value;
        }
        catch
        {
            Interlocked.CompareExchange(ref _cache, null, lazy);
            throw;
        }
    }

    /// <summary>
    /// memcached's <c>flush_all delay</c>: every item stored until the flush time goes then. A later
    /// flush_all replaces the one waiting (as memcached keeps one flush time); the wait is not durable.
    /// </summary>
    public void FlushLater(TimeSpan delay)
    {
        var next = CancellationTokenSource.CreateLinkedTokenSource(_listener.Stopping);
        lock (_flushLock)
        {
            _delayedFlush?.Cancel();
            _delayedFlush?.Dispose();
            _delayedFlush = next;
        }

        _ = FlushAfterAsync(delay, next.Token);
    }

    /// <summary>An immediate flush_all cancels a delayed one.</summary>
    public void CancelDelayedFlush()
    {
        lock (_flushLock)
        {
            _delayedFlush?.Cancel();
            _delayedFlush?.Dispose();
            _delayedFlush = null;
        }
    }

    private async Task FlushAfterAsync(TimeSpan delay, CancellationToken token)
    {
        try
        {
            await Task.Delay(delay, token);
            var cache = await CacheAsync();
            var reply = await cache.ExecuteAsync(["FLUSHALL"], token);
            if (reply.IsError)
            {
                MemcachedLog.DelayedFlushFailed(logger, new InvalidOperationException(reply.Text));
            }
        }
        catch (OperationCanceledException) when (token.IsCancellationRequested)
        {
            // Replaced by a later flush_all, or the silo is stopping.
        }
        catch (Exception ex)
        {
            MemcachedLog.DelayedFlushFailed(logger, ex);
        }
    }

    /// <inheritdoc/>
    public void Participate(ISiloLifecycle lifecycle)
    {
        ArgumentNullException.ThrowIfNull(lifecycle);
        lifecycle.Subscribe(nameof(MemcachedEndpoint), ServiceLifecycleStage.Active, StartAsync, StopAsync);
    }

    private Task StartAsync(CancellationToken cancellationToken)
    {
        _listener.Start(this, Options.Address, Options.Port!.Value);
        return Task.CompletedTask;
    }

    private Task StopAsync(CancellationToken cancellationToken) => _listener.StopAsync(cancellationToken);

    MemcachedConnection IWireProtocol<MemcachedConnection>.Open(Socket socket, long id) => new(this, socket, id, logger);

    void IWireProtocol<MemcachedConnection>.Listening(IPEndPoint local) =>
        MemcachedLog.Listening(logger, local.ToString(), Options.Cache, Options.MaxItemSize);

    void IWireProtocol<MemcachedConnection>.ListenFailed(Exception exception, string endPoint) => MemcachedLog.ListenFailed(logger, exception, endPoint);

    void IWireProtocol<MemcachedConnection>.AcceptFailed(Exception exception) => MemcachedLog.AcceptFailed(logger, exception);

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
        CancelDelayedFlush();
        if (Connected is { } client)
        {
            await client.DisposeAsync();
        }
    }
}

/// <summary>The command counters of <c>stats</c>, as memcached names them.</summary>
internal sealed class MemcachedCounters
{
    private long _cmdGet;
    private long _cmdSet;
    private long _cmdTouch;
    private long _cmdFlush;
    private long _getHits;
    private long _getMisses;

    public long CmdGet => Interlocked.Read(ref _cmdGet);

    public long CmdSet => Interlocked.Read(ref _cmdSet);

    public long CmdTouch => Interlocked.Read(ref _cmdTouch);

    public long CmdFlush => Interlocked.Read(ref _cmdFlush);

    public long GetHits => Interlocked.Read(ref _getHits);

    public long GetMisses => Interlocked.Read(ref _getMisses);

    public void Get(long hits, long misses)
    {
        Interlocked.Add(ref _cmdGet, hits + misses);
        Interlocked.Add(ref _getHits, hits);
        Interlocked.Add(ref _getMisses, misses);
    }

    public void Set() => Interlocked.Increment(ref _cmdSet);

    public void Touch() => Interlocked.Increment(ref _cmdTouch);

    public void Flush() => Interlocked.Increment(ref _cmdFlush);
}
