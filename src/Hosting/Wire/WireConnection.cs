using System.IO.Pipelines;
using System.Net.Sockets;

namespace Granary.Server.Wire;

/// <summary>
/// One client connection of a wire-protocol endpoint, the part every protocol shares: the socket's
/// System.IO.Pipelines reader and writer, the reads with the idle timeout, closing on abort, on the
/// silo stopping or when the client leaves, and <see cref="Completion"/>. The protocol's loop is
/// <see cref="ServeAsync"/>: it reads with <see cref="ReadAsync"/> and returns to close the connection.
/// </summary>
internal abstract class WireConnection
{
    private readonly Socket _socket;
    private readonly TimeSpan _idleTimeout;
    private readonly CancellationTokenSource _abort = new();
    private readonly TaskCompletionSource _completion = new(TaskCreationOptions.RunContinuationsAsynchronously);
    private CancellationTokenSource? _idle;

    /// <param name="socket">The accepted socket (the connection owns it).</param>
    /// <param name="id">The client id.</param>
    /// <param name="idleTimeout">How long a read waits for the client before the connection is closed; zero: for ever.</param>
    protected WireConnection(Socket socket, long id, TimeSpan idleTimeout)
    {
        _socket = socket;
        _idleTimeout = idleTimeout;
        Id = id;
        Remote = socket.RemoteEndPoint?.ToString() ?? "?";
    }

    /// <summary>The client id.</summary>
    public long Id { get; }

    /// <summary>The peer address.</summary>
    public string Remote { get; }

    /// <summary>Completes when the connection is closed.</summary>
    public Task Completion => _completion.Task;

    /// <summary>Closes the connection (silo stopping).</summary>
    public void Abort()
    {
        try
        {
            _abort.Cancel();
        }
        catch (ObjectDisposedException)
        {
            // Already closed.
        }
    }

    /// <summary>Serves the connection until the client leaves, a protocol error, an idle timeout or <paramref name="stopping"/>.</summary>
    public async Task RunAsync(CancellationToken stopping)
    {
        using var linked = CancellationTokenSource.CreateLinkedTokenSource(stopping, _abort.Token);
        using var idle = CancellationTokenSource.CreateLinkedTokenSource(linked.Token);
        _idle = idle;
        var stream = new NetworkStream(_socket, ownsSocket: true);
        var input = PipeReader.Create(stream, new StreamPipeReaderOptions(bufferSize: 16 * 1024, leaveOpen: true));
        var output = PipeWriter.Create(stream, new StreamPipeWriterOptions(leaveOpen: true));
        try
        {
            await ServeAsync(input, output, linked.Token);
        }
        catch (OperationCanceledException) when (idle.IsCancellationRequested && !linked.IsCancellationRequested)
        {
            // Only a read waits on the idle timeout (everything else on the connection's token).
            IdleClosed(_idleTimeout.TotalSeconds);
        }
        catch (Exception ex) when (ex is OperationCanceledException or IOException or SocketException or ObjectDisposedException)
        {
            // The client left, or the silo is stopping.
        }
        catch (Exception ex)
        {
            Failed(ex);
        }
        finally
        {
            await input.CompleteAsync();
            await output.CompleteAsync();
            await stream.DisposeAsync();
            _abort.Dispose();
            _completion.TrySetResult();
        }
    }

    /// <summary>
    /// The next read of <paramref name="input"/>, which waits at most the idle timeout (then the
    /// connection is closed and <see cref="IdleClosed"/> logged).
    /// </summary>
    protected ValueTask<ReadResult> ReadAsync(PipeReader input)
    {
        var idle = _idle!;
        if (_idleTimeout > TimeSpan.Zero)
        {
            idle.CancelAfter(_idleTimeout);
        }

        return input.ReadAsync(idle.Token);
    }

    /// <summary>The protocol: reads <paramref name="input"/> with <see cref="ReadAsync"/> and answers on <paramref name="output"/> until the connection is to close.</summary>
    protected abstract Task ServeAsync(PipeReader input, PipeWriter output, CancellationToken token);

    /// <summary>Logs the close after <paramref name="idleSeconds"/> without a request.</summary>
    protected abstract void IdleClosed(double idleSeconds);

    /// <summary>Logs the close after an unexpected failure.</summary>
    protected abstract void Failed(Exception exception);
}
