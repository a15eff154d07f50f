using System.Collections.Concurrent;
using System.Net;
using System.Net.Sockets;

namespace Granary.Server.Wire;

/// <summary>
/// What a <see cref="WireListener{TConnection}"/> asks of the protocol endpoint it listens for: a
/// connection for each accepted socket, and the endpoint's own log events.
/// </summary>
internal interface IWireProtocol<TConnection>
    where TConnection : WireConnection
{
    /// <summary>The connection serving <paramref name="socket"/>, with client id <paramref name="id"/>.</summary>
    TConnection Open(Socket socket, long id);

    /// <summary>The listener is bound to <paramref name="local"/> (connections are accepted next).</summary>
    void Listening(IPEndPoint local);

    /// <summary>Binding to <paramref name="endPoint"/> failed (the start fails next).</summary>
    void ListenFailed(Exception exception, string endPoint);

    /// <summary>Accepting one connection failed (the listener goes on).</summary>
    void AcceptFailed(Exception exception);
}

/// <summary>
/// The socket listener of a wire-protocol endpoint (RESP, Memcached): the accept loop, the registry of
/// open connections, the refusal of connections over the limit, the stop that closes every connection
/// and the dispose. The protocol is in the connections its endpoint opens (<see cref="IWireProtocol{TConnection}"/>).
/// </summary>
/// <param name="section">The endpoint's configuration section, named when it cannot listen.</param>
/// <param name="maxConnections">Most connections open at once; one more is sent <paramref name="refusal"/> and closed.</param>
/// <param name="refusal">The protocol's reply to a connection over the limit.</param>
internal sealed class WireListener<TConnection>(string section, int maxConnections, ReadOnlyMemory<byte> refusal) : IDisposable
    where TConnection : WireConnection
{
    private readonly ConcurrentDictionary<long, TConnection> _connections = new();
    private readonly CancellationTokenSource _stopping = new();
    private int _disposed;
    private Socket? _listener;
    private Task _accepting = Task.CompletedTask;
    private long _nextClientId;
    private long _connectionsReceived;
    private long _rejected;

    /// <summary>The bound endpoint once listening.</summary>
    public IPEndPoint? LocalEndPoint => _listener?.LocalEndPoint as IPEndPoint;

    /// <summary>Connections open now.</summary>
    public int ConnectionCount => _connections.Count;

    /// <summary>Connections accepted, and refused for the connection limit, since start.</summary>
    public (long Received, long Rejected) ConnectionCounters => (Interlocked.Read(ref _connectionsReceived), Interlocked.Read(ref _rejected));

    /// <summary>The open connections.</summary>
    public ICollection<TConnection> Connections => _connections.Values;

    /// <summary>Canceled when the listener stops (or is disposed).</summary>
    public CancellationToken Stopping => _stopping.Token;

    /// <summary>Binds to <paramref name="address"/>:<paramref name="port"/> and accepts connections for <paramref name="protocol"/>.</summary>
    /// <returns>The bound endpoint.</returns>
    public IPEndPoint Start(IWireProtocol<TConnection> protocol, string address, int port)
    {
        var endpoint = new IPEndPoint(IPAddress.Parse(address), port);
        var listener = new Socket(endpoint.AddressFamily, SocketType.Stream, ProtocolType.Tcp);
        try
        {
            listener.Bind(endpoint);
            listener.Listen(512);
        }
        catch (SocketException ex)
        {
            listener.Dispose();
            protocol.ListenFailed(ex, endpoint.ToString());
            throw new InvalidOperationException($"{section}: cannot listen on {endpoint}: {ex.Message}", ex);
        }

        _listener = listener;
        var local = (IPEndPoint)listener.LocalEndPoint!;
        protocol.Listening(local);
        _accepting = AcceptLoopAsync(protocol, listener);
        return local;
    }

    /// <summary>Stops accepting, closes every connection and waits (up to 5 s) until they are closed.</summary>
    public async Task StopAsync(CancellationToken cancellationToken)
    {
        await _stopping.CancelAsync();
        _listener?.Dispose();
        await _accepting;
        foreach (var connection in _connections.Values)
        {
            connection.Abort();
        }

        await Task.WhenAll(_connections.Values.Select(c => c.Completion)).WaitAsync(TimeSpan.FromSeconds(5), cancellationToken).ContinueWith(_ => { }, TaskScheduler.Default);
    }

    private async Task AcceptLoopAsync(IWireProtocol<TConnection> protocol, Socket listener)
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
                protocol.AcceptFailed(ex);
                continue;
            }

            socket.NoDelay = true;
            Interlocked.Increment(ref _connectionsReceived);
            if (_connections.Count >= maxConnections)
            {
                Interlocked.Increment(ref _rejected);
                _ = RefuseAsync(socket);
                continue;
            }

            var id = Interlocked.Increment(ref _nextClientId);
            var connection = protocol.Open(socket, id);
            _connections[id] = connection;
            _ = RunAsync(connection);
        }
    }

    private async Task RunAsync(TConnection connection)
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

    private async Task RefuseAsync(Socket socket)
    {
        using (socket)
        {
            try
            {
                await socket.SendAsync(refusal, SocketFlags.None);
                socket.Shutdown(SocketShutdown.Both);
            }
            catch (SocketException)
            {
                // The client went first.
            }
        }
    }

    /// <summary>Stops accepting (connections are closed by <see cref="StopAsync"/>). Only the first call does anything.</summary>
    public void Dispose()
    {
        // Idempotent, as the endpoints' own dispose (the container disposes an endpoint once per registration).
        if (Interlocked.Exchange(ref _disposed, 1) == 1)
        {
            return;
        }

        _stopping.Cancel();
        _listener?.Dispose();
        _stopping.Dispose();
    }
}
