using System.IO.Pipelines;
using System.Net.Sockets;
using Granary.Caching;
using Granary.Client.Caching;
using Microsoft.Extensions.Logging;

namespace Granary.Server.Resp;

/// <summary>
/// One client connection of the RESP endpoint. Reads with System.IO.Pipelines, parses every complete
/// frame available, runs them in order (consecutive cache commands as one ordered pipeline through the
/// cache's client: one ordered group per shard), writes every reply and flushes once per read. Malformed
/// input is answered <c>-ERR Protocol error: ...</c> after the commands before it, and the connection is
/// closed; nothing else is affected.
/// </summary>
internal sealed partial class RespConnection
{
    /// <summary>Most commands run in one cycle before their replies are written (bounds the memory of one read).</summary>
    private const int MaxCommandsPerCycle = 1024;

    private readonly RespEndpoint _endpoint;
    private readonly Socket _socket;
    private readonly ILogger _logger;
    private readonly RespParser _parser;
    private readonly CancellationTokenSource _abort = new();
    private readonly TaskCompletionSource _completion = new(TaskCreationOptions.RunContinuationsAsynchronously);
    private readonly List<(string[] Command, int Protocol, Resp3Shape Shape)> _pending = [];
    private readonly long _createdTicks = Environment.TickCount64;
    private PipeWriter _output = null!;
    private bool _closeAfterFlush;

    public RespConnection(RespEndpoint endpoint, Socket socket, long id, ILogger logger)
    {
        _endpoint = endpoint;
        _socket = socket;
        _logger = logger;
        _parser = new RespParser(endpoint.Options);
        Id = id;
        Remote = socket.RemoteEndPoint?.ToString() ?? "?";
        Authenticated = endpoint.Password is null;
    }

    /// <summary>The client id (<c>CLIENT ID</c>).</summary>
    public long Id { get; }

    /// <summary>The peer address.</summary>
    public string Remote { get; }

    /// <summary>The name set by <c>CLIENT SETNAME</c> or <c>HELLO ... SETNAME</c>.</summary>
    public string? Name { get; private set; }

    /// <summary>The selected database (an index into <see cref="RespOptions.Databases"/>).</summary>
    public int Database { get; private set; }

    /// <summary>2 or 3, as chosen by <c>HELLO</c>.</summary>
    public int Protocol { get; private set; } = 2;

    /// <summary>True when no password is required or it was given.</summary>
    public bool Authenticated { get; private set; }

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
        var stream = new NetworkStream(_socket, ownsSocket: true);
        var input = PipeReader.Create(stream, new StreamPipeReaderOptions(bufferSize: 16 * 1024, leaveOpen: true));
        _output = PipeWriter.Create(stream, new StreamPipeWriterOptions(leaveOpen: true));
        try
        {
            await ServeAsync(input, linked.Token);
        }
        catch (Exception ex) when (ex is OperationCanceledException or IOException or SocketException or ObjectDisposedException)
        {
            // The client left, or the silo is stopping.
        }
        catch (Exception ex)
        {
            RespLog.ConnectionFailed(_logger, ex, Id, Remote);
        }
        finally
        {
            await input.CompleteAsync();
            await _output.CompleteAsync();
            await stream.DisposeAsync();
            _abort.Dispose();
            _completion.TrySetResult();
        }
    }

    private async Task ServeAsync(PipeReader input, CancellationToken token)
    {
        var idleTimeout = _endpoint.Options.IdleTimeout;
        using var idle = CancellationTokenSource.CreateLinkedTokenSource(token);
        var commands = new List<RespCommand>();
        while (true)
        {
            if (idleTimeout > TimeSpan.Zero)
            {
                idle.CancelAfter(idleTimeout);
            }

            ReadResult result;
            try
            {
                result = await input.ReadAsync(idle.Token);
            }
            catch (OperationCanceledException) when (!token.IsCancellationRequested)
            {
                RespLog.IdleClosed(_logger, Id, Remote, idleTimeout.TotalSeconds);
                return;
            }

            var buffer = result.Buffer;
            while (true)
            {
                commands.Clear();
                string? protocolError = null;
                var incomplete = false;
                while (commands.Count < MaxCommandsPerCycle)
                {
                    var status = _parser.TryParse(ref buffer, Authenticated, out var command, out var error);
                    if (status == RespParseStatus.Command)
                    {
                        commands.Add(command);
                        if (!Authenticated)
                        {
                            // Limits depend on authentication: run this one before parsing the next.
                            break;
                        }
                    }
                    else if (status == RespParseStatus.ProtocolError)
                    {
                        protocolError = error;
                        break;
                    }
                    else if (status == RespParseStatus.Incomplete)
                    {
                        incomplete = true;
                        break;
                    }
                }

                await RunAsync(commands, token);
                if (protocolError is not null)
                {
                    Reply(CacheReply.Error("ERR " + protocolError));
                    await _output.FlushAsync(token);
                    RespLog.ProtocolError(_logger, Id, Remote, protocolError);
                    return;
                }

                if (_closeAfterFlush)
                {
                    await _output.FlushAsync(token);
                    return;
                }

                if (incomplete)
                {
                    break;
                }
            }

            input.AdvanceTo(buffer.Start, buffer.End);
            await _output.FlushAsync(token);
            if (result.IsCompleted || result.IsCanceled)
            {
                return;
            }
        }
    }

    /// <summary>Runs <paramref name="commands"/> in order; replies go to the output (flushed by the caller).</summary>
    private async Task RunAsync(List<RespCommand> commands, CancellationToken token)
    {
        foreach (var command in commands)
        {
            if (_closeAfterFlush)
            {
                break;
            }

            await DispatchAsync(command, token);
        }

        await RunPendingAsync(token);
    }

    private async Task DispatchAsync(RespCommand command, CancellationToken token)
    {
        var args = command.Arguments;
        if (!command.IsText)
        {
            if (command.NotTextArgument > 0 && args.Length == 2 && IsOneOf(args[0], "ECHO", "PING") && Authenticated && _transaction is null)
            {
                // Nothing is stored: answer the bytes as they came (clients send binary tracers).
                await RunPendingAsync(token);
                RespWriter.Header(_output, (byte)'$', command.Raw![1].Length);
                RespWriter.Raw(_output, command.Raw[1]);
                RespWriter.Raw(_output, "\r\n"u8);
                return;
            }

            await RefuseAsync(RespText.NotText(command.NotTextArgument), token);
            return;
        }

        var name = args[0];
        if (!Authenticated && !IsOneOf(name, "AUTH", "HELLO", "QUIT", "RESET"))
        {
            await RefuseAsync(RespText.NoAuth, token);
            return;
        }

        if (IsScriptCommand(name))
        {
            if (await ScriptAsync(args, token) is not { } native)
            {
                return;
            }

            (args, name) = (native, native[0]);
        }

        if (_transaction is not null && !IsOneOf(name, "EXEC", "DISCARD", "MULTI", "WATCH", "QUIT", "RESET"))
        {
            await RunPendingAsync(token);
            await QueueAsync(args);
            return;
        }

        if (LocalCommands.Contains(name))
        {
            await RunPendingAsync(token);
            await RunLocalAsync(args, token);
            return;
        }

        if (RespText.Unsupported.TryGetValue(name, out var family))
        {
            await RefuseAsync(RespText.NotSupported(name, family), token);
            return;
        }

        _pending.Add((args, Protocol, RespWriter.ShapeOf(args)));
    }

    /// <summary>Answers an error in its place in the order (a command refused inside MULTI also fails the EXEC).</summary>
    private async Task RefuseAsync(string error, CancellationToken token)
    {
        await RunPendingAsync(token);
        _transactionDirty |= _transaction is not null;
        Reply(CacheReply.Error(error));
    }

    /// <summary>Runs the cache commands waiting since the last connection command, as one ordered pipeline.</summary>
    private async Task RunPendingAsync(CancellationToken token)
    {
        if (_pending.Count == 0)
        {
            return;
        }

        CacheReply[] replies;
        try
        {
            var cache = await _endpoint.CacheAsync(Database);
            replies = await cache.ExecuteInOrderAsync([.. _pending.Select(p => p.Command)], token);
        }
        catch (Exception ex) when (ex is not OperationCanceledException || !token.IsCancellationRequested)
        {
            var failed = CacheClient.Failed(ex);
            replies = [.. _pending.Select(_ => failed)];
        }

        for (var i = 0; i < replies.Length; i++)
        {
            RespWriter.Write(_output, replies[i], _pending[i].Protocol, _pending[i].Shape);
        }

        _pending.Clear();
    }

    private void Reply(CacheReply reply, Resp3Shape shape = Resp3Shape.Plain) => RespWriter.Write(_output, reply, Protocol, shape);

    private static bool IsOneOf(string name, params ReadOnlySpan<string> names)
    {
        foreach (var candidate in names)
        {
            if (string.Equals(name, candidate, StringComparison.OrdinalIgnoreCase))
            {
                return true;
            }
        }

        return false;
    }
}
