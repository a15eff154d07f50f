using System.IO.Pipelines;
using System.Net.Sockets;
using Granary.Caching;
using Granary.Client.Caching;
using Granary.Server.Wire;
using Microsoft.Extensions.Logging;

namespace Granary.Server.Resp;

/// <summary>
/// One client connection of the RESP endpoint. Reads with System.IO.Pipelines, parses every complete
/// frame available, runs them in order (consecutive cache commands as one ordered pipeline through the
/// cache's client: one ordered group per shard), writes every reply and flushes once per read. Malformed
/// input is answered <c>-ERR Protocol error: ...</c> after the commands before it, and the connection is
/// closed; nothing else is affected.
/// </summary>
internal sealed partial class RespConnection : WireConnection
{
    /// <summary>Most commands run in one cycle before their replies are written (bounds the memory of one read).</summary>
    private const int MaxCommandsPerCycle = 1024;

    private readonly RespEndpoint _endpoint;
    private readonly ILogger _logger;
    private readonly RespParser _parser;
    // Cache commands waiting since the last connection command; a connection command (HELLO included)
    // runs them first, so they all share the connection's protocol.
    private readonly List<string[]> _pending = [];
    private readonly long _createdTicks = Environment.TickCount64;
    private PipeWriter _output = null!;
    private bool _closeAfterFlush;

    public RespConnection(RespEndpoint endpoint, Socket socket, long id, ILogger logger)
        : base(socket, id, endpoint.Options.IdleTimeout)
    {
        _endpoint = endpoint;
        _logger = logger;
        _parser = new RespParser(endpoint.Options);
        Authenticated = endpoint.Password is null;
    }

    /// <summary>The name set by <c>CLIENT SETNAME</c> or <c>HELLO ... SETNAME</c>.</summary>
    public string? Name { get; private set; }

    /// <summary>The selected database (an index into <see cref="RespOptions.Databases"/>).</summary>
    public int Database { get; private set; }

    /// <summary>2 or 3, as chosen by <c>HELLO</c>.</summary>
    public int Protocol { get; private set; } = 2;

    /// <summary>True when no password is required or it was given.</summary>
    public bool Authenticated { get; private set; }

    /// <inheritdoc/>
    protected override void IdleClosed(double idleSeconds) => RespLog.IdleClosed(_logger, Id, Remote, idleSeconds);

    /// <inheritdoc/>
    protected override void Failed(Exception exception) => RespLog.ConnectionFailed(_logger, exception, Id, Remote);

    /// <inheritdoc/>
    protected override async Task ServeAsync(PipeReader input, PipeWriter output, CancellationToken token)
    {
        _output = output;
        var commands = new List<RespCommand>();
        while (true)
        {
            var result = await ReadAsync(input);
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

            if (Authenticated && _transaction is null && !EndpointCommands.Contains(command.Arguments[0]))
            {
                // A cache command, the common case: one lookup, no call.
                _pending.Add(command.Arguments);
                continue;
            }

            await DispatchAsync(command, token);
        }

        await RunPendingAsync(token);
    }

    private async Task DispatchAsync(RespCommand command, CancellationToken token)
    {
        var args = command.Arguments;
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

        _pending.Add(args);
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
            replies = await cache.ExecuteInOrderAsync(_pending, token);
        }
        catch (Exception ex) when (ex is not OperationCanceledException || !token.IsCancellationRequested)
        {
            var failed = CacheClient.Failed(ex);
            replies = [.. _pending.Select(_ => failed)];
        }

        for (var i = 0; i < replies.Length; i++)
        {
            RespWriter.Write(_output, replies[i], Protocol, Protocol == 3 ? RespWriter.ShapeOf(_pending[i]) : Resp3Shape.Plain);
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
