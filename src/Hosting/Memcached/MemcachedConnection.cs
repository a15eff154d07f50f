using System.Buffers;
using System.IO.Pipelines;
using System.Net.Sockets;
using System.Text;
using Granary.Caching;
using Granary.Client.Caching;
using Granary.Server.Wire;
using Microsoft.Extensions.Logging;

namespace Granary.Server.Memcached;

/// <summary>
/// One client connection of the Memcached endpoint. Reads with System.IO.Pipelines, parses every
/// complete command available (<see cref="MemcachedParser"/>), runs their cache commands as one ordered
/// pipeline through the cache's client (one grain call per shard), writes every reply in order and
/// flushes once per read. A line longer than the limit is answered <c>CLIENT_ERROR line too long</c>
/// and the connection is closed; every other malformed command gets memcached's error and the
/// connection goes on, as memcached does. Nothing else is affected.
/// </summary>
internal sealed partial class MemcachedConnection : WireConnection
{
    /// <summary>Most commands run in one cycle before their replies are written (bounds the memory of one read).</summary>
    private const int MaxCommandsPerCycle = 1024;

    private readonly MemcachedEndpoint _endpoint;
    private readonly ILogger _logger;
    private readonly MemcachedParser _parser;
    private readonly List<string[]> _commands = [];
    private readonly List<MemcachedStep> _steps = [];
    private PipeWriter _output = null!;

    public MemcachedConnection(MemcachedEndpoint endpoint, Socket socket, long id, ILogger logger)
        : base(socket, id, endpoint.Options.IdleTimeout)
    {
        _endpoint = endpoint;
        _logger = logger;
        _parser = new MemcachedParser(endpoint.Options);
    }

    /// <inheritdoc/>
    protected override void IdleClosed(double idleSeconds) => MemcachedLog.IdleClosed(_logger, Id, Remote, idleSeconds);

    /// <inheritdoc/>
    protected override void Failed(Exception exception) => MemcachedLog.ConnectionFailed(_logger, exception, Id, Remote);

    /// <inheritdoc/>
    protected override async Task ServeAsync(PipeReader input, PipeWriter output, CancellationToken token)
    {
        _output = output;
        while (true)
        {
            var result = await ReadAsync(input);
            var buffer = result.Buffer;
            while (true)
            {
                _commands.Clear();
                _steps.Clear();
                var status = MemcachedParseStatus.Incomplete;
                while (_steps.Count < MaxCommandsPerCycle)
                {
                    status = _parser.TryParse(ref buffer, _steps, _commands);
                    if (status != MemcachedParseStatus.Command)
                    {
                        break;
                    }

                    if (_steps[^1].Kind == MemcachedStepKind.Quit)
                    {
                        break;
                    }
                }

                var quit = await RunCycleAsync(token);
                if (status == MemcachedParseStatus.LineTooLong)
                {
                    Write("CLIENT_ERROR line too long\r\n"u8);
                    await _output.FlushAsync(token);
                    MemcachedLog.ProtocolError(_logger, Id, Remote, "line too long");
                    return;
                }

                if (quit)
                {
                    await _output.FlushAsync(token);
                    return;
                }

                if (status == MemcachedParseStatus.Incomplete)
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

    /// <summary>Runs the cycle's cache commands as one ordered pipeline, then writes each step's reply in order. True after <c>quit</c>.</summary>
    private async Task<bool> RunCycleAsync(CancellationToken token)
    {
        if (_steps.Count == 0 && _commands.Count == 0)
        {
            return false;
        }

        CacheReply[] replies = [];
        if (_commands.Count > 0)
        {
            try
            {
                var cache = await _endpoint.CacheAsync();
                replies = await cache.ExecuteInOrderAsync(_commands, token);
            }
            catch (Exception ex) when (ex is not OperationCanceledException || !token.IsCancellationRequested)
            {
                var failed = CacheClient.Failed(ex);
                replies = [.. _commands.Select(_ => failed)];
            }
        }

        foreach (var step in _steps)
        {
            if (step.Kind == MemcachedStepKind.Quit)
            {
                return true;
            }

            Reply(step, replies);
        }

        return false;
    }

    private void Reply(MemcachedStep step, CacheReply[] replies)
    {
        var counters = _endpoint.Counters;
        switch (step.Kind)
        {
            case MemcachedStepKind.Text:
                if (step.Counted)
                {
                    counters.Set();
                }

                WriteLine(step.Text!, step.NoReply);
                break;
            case MemcachedStepKind.Get:
                WriteValues(step, replies);
                break;
            case MemcachedStepKind.Store:
                counters.Set();
                WriteLine(replies[step.First] switch
                {
                    { IsError: true } error => ErrorText(error),
                    var status => status.Text!,
                }, step.NoReply);
                break;
            case MemcachedStepKind.Incr:
                WriteLine(replies[step.First] switch
                {
                    { IsError: true } error => ErrorText(error),
                    var reply => reply.Text!,
                }, step.NoReply);
                break;
            case MemcachedStepKind.Delete:
                WriteLine(replies[step.First] switch
                {
                    { IsError: true } error => ErrorText(error),
                    { Integer: > 0 } => "DELETED",
                    _ => "NOT_FOUND",
                }, step.NoReply);
                break;
            case MemcachedStepKind.Touch:
                counters.Touch();
                WriteLine(replies[step.First] switch
                {
                    { IsError: true } error => ErrorText(error),
                    var status => status.Text!,
                }, step.NoReply);
                break;
            case MemcachedStepKind.Flush:
                counters.Flush();
                if (step.Delay > TimeSpan.Zero)
                {
                    _endpoint.FlushLater(step.Delay);
                    WriteLine("OK", step.NoReply);
                    break;
                }

                _endpoint.CancelDelayedFlush();
                WriteLine(replies[step.First] is { IsError: true } failed ? ErrorText(failed) : "OK", step.NoReply);
                break;
            case MemcachedStepKind.Stats:
                WriteStats(replies[step.First]);
                break;
            case MemcachedStepKind.Meta:
                WriteMeta(step, replies[step.First]);
                break;
        }
    }

    /// <summary>A meta command's reply: its status code and return flags in the order asked, and for v the value.</summary>
    private void WriteMeta(MemcachedStep step, CacheReply reply)
    {
        var flags = step.MetaFlags!;
        var key = step.Keys![0];
        if (reply.IsError)
        {
            WriteLine(ErrorText(reply), noReply: false);
            return;
        }

        switch (step.Meta)
        {
            case 'g' when reply.IsNil:
                _endpoint.Counters.Get(0, 1);
                WriteLine("EN" + MetaParser.Echo(flags, key), step.NoReply);
                return;
            case 'g':
                {
                    _endpoint.Counters.Get(1, 0);
                    var items = reply.Items!;
                    var value = items[0].Text!;
                    var size = CacheBytes.ByteCount(value).ToString(System.Globalization.CultureInfo.InvariantCulture);
                    var ttl = MetaParser.TtlAt(flags, items[3].Integer, vivified: items[5].Integer == 1);

                    // A hit gives the key as the item was stored: in base64 when ms stored it with b, whatever this mg sent.
                    var stored = MetaParser.PrintsInBase64(step.Keys[1], binary: items[8].Integer == 1) ? MetaParser.Base64Key(step.Keys[1]) : step.Keys[1];
                    var head = (MetaParser.Has(flags, 'v') ? "VA " + size : "HD") + MetaParser.Echo(flags, stored, flag => flag switch
                    {
                        'c' => Number(items[2].Integer),
                        'f' => Number(items[1].Integer),
                        's' => size,
                        't' => Number(ttl),
                        'h' => Number(items[6].Integer),
                        'l' => Number(items[7].Integer),
                        _ => null,
                    });

                    // memcached's marks follow the flags asked for: Z (another client recaches), X (stale), W (this one does).
                    foreach (var mark in items[4].Text!)
                    {
                        head += " " + mark;
                    }

                    WriteLine(head, noReply: false);
                    if (MetaParser.Has(flags, 'v'))
                    {
                        CacheBytes.Write(value, _output);
                        Write("\r\n"u8);
                    }

                    return;
                }

            case 'e' when reply.IsNil:
                WriteLine("EN", noReply: false);
                return;
            case 'e':
                {
                    // memcached 1.6 prints exp as its clock minus the expiry time: minus the TTL, -1 for none.
                    var items = reply.Items!;
                    var ttl = items[3].Integer;
                    var (slab, size) = MetaParser.SlabOf(step.Keys![1].Length, CacheBytes.ByteCount(items[0].Text!), items[1].Integer != 0);
                    var printed = MetaParser.PrintsInBase64(step.Keys![1], binary: items[8].Integer == 1) ? MetaParser.Base64(step.Keys[1]) : step.Keys[1];
                    WriteLine(string.Create(System.Globalization.CultureInfo.InvariantCulture, $"ME {printed} exp={(ttl < 0 ? -1 : -ttl)} la={items[7].Integer} cas={items[2].Integer} fetch={(items[6].Integer == 1 ? "yes" : "no")} cls={slab} size={size}"), noReply: false);
                    return;
                }

            case 's':
                {
                    _endpoint.Counters.Set();
                    var status = reply.Items![0].Text;
                    var code = status switch { "STORED" => "HD", "NOT_STORED" => "NS", "EXISTS" => "EX", _ => "NF" };
                    var cas = status == "STORED" ? reply.Items[1].Integer : 0;
                    WriteLine(code + MetaParser.Echo(flags, key, flag => flag == 'c' ? Number(cas) : null), step.NoReply && code == "HD");
                    return;
                }

            case 'd':
                {
                    var code = reply.Text switch { "DELETED" => "HD", "EXISTS" => "EX", _ => "NF" };
                    WriteLine(code + MetaParser.Echo(flags, key), step.NoReply && code == "HD");
                    return;
                }

            default:
                {
                    if (reply.Items is not [var value, var cas, var before, var created])
                    {
                        WriteLine((reply.Text == "EXISTS" ? "EX" : "NF") + MetaParser.Echo(flags, key), noReply: false);
                        return;
                    }

                    // t reads the TTL at its place among the flags: T, and N for an item it made, set it where they stand.
                    var ttl = MetaParser.TtlAt(flags, before.Integer, vivified: created.Integer == 1);
                    var text = value.Text!;
                    var head = (MetaParser.Has(flags, 'v') ? "VA " + Number(CacheBytes.ByteCount(text)) : "HD") + MetaParser.Echo(flags, key, flag => flag switch
                    {
                        'c' => Number(cas.Integer),
                        't' => Number(ttl),
                        _ => null,
                    });
                    if (step.NoReply && created.Integer == 0)
                    {
                        return;
                    }

                    WriteLine(head, noReply: false);
                    if (MetaParser.Has(flags, 'v'))
                    {
                        WriteLine(text, noReply: false);
                    }

                    return;
                }
        }
    }

    private void WriteValues(MemcachedStep step, CacheReply[] replies)
    {
        var keys = step.Keys!;
        long hits = 0;
        for (var i = 0; i < step.Count; i++)
        {
            if (replies[step.First + i] is { IsError: true } error)
            {
                // A failed shard call: nothing of this command is answered but the error.
                WriteLine(ErrorText(error), noReply: false);
                return;
            }
        }

        for (var i = 0; i < keys.Length; i++)
        {
            var index = step.KeyCommands![i];
            if (replies[step.First + index] is not { IsNil: false, Items: [var value, var flags, var cas, _] })
            {
                continue;
            }

            hits++;
            var text = value.Text!;
            Write("VALUE "u8);
            WriteLatin1(keys[i]);
            Write(" "u8);
            WriteNumber((ulong)flags.Integer);
            Write(" "u8);
            WriteNumber((ulong)CacheBytes.ByteCount(text));
            if (step.WithCas)
            {
                Write(" "u8);
                WriteNumber((ulong)cas.Integer);
            }

            Write("\r\n"u8);
            CacheBytes.Write(text, _output);
            Write("\r\n"u8);
        }

        _endpoint.Counters.Get(hits, keys.Length - hits);
        Write("END\r\n"u8);
    }

    private void WriteStats(CacheReply items)
    {
        var counters = _endpoint.Counters;
        var (received, rejected) = _endpoint.ConnectionCounters;
        var (calls, carried, local) = _endpoint.BatchingCounters;
        var stats = new (string Name, string Value)[]
        {
            ("pid", Environment.ProcessId.ToString(System.Globalization.CultureInfo.InvariantCulture)),
            ("uptime", Number(_endpoint.UptimeSeconds)),
            ("time", Number(DateTimeOffset.UtcNow.ToUnixTimeSeconds())),
            ("version", MemcachedEndpoint.Version),
            ("pointer_size", "64"),
            ("max_connections", Number(_endpoint.Options.MaxConnections)),
            ("curr_connections", Number(_endpoint.ConnectionCount)),
            ("total_connections", Number(received)),
            ("rejected_connections", Number(rejected)),
            ("cmd_get", Number(counters.CmdGet)),
            ("cmd_set", Number(counters.CmdSet)),
            ("cmd_flush", Number(counters.CmdFlush)),
            ("cmd_touch", Number(counters.CmdTouch)),
            ("get_hits", Number(counters.GetHits)),
            ("get_misses", Number(counters.GetMisses)),
            ("curr_items", items is { Kind: CacheReplyKind.Integer } ? Number(items.Integer) : "0"),
            ("limit_maxbytes", "0"),
            ("item_size_max", Number(_endpoint.Options.MaxItemSize)),
            ("granary_shard_calls", Number(calls)),
            ("granary_shard_commands", Number(carried)),
            ("granary_local_commands", Number(local)),
        };
        foreach (var (name, value) in stats)
        {
            WriteLatin1("STAT " + name + " " + value + "\r\n");
        }

        Write("END\r\n"u8);
    }

    private static string Number(long value) => value.ToString(System.Globalization.CultureInfo.InvariantCulture);

    /// <summary>The memcached text of a cache error reply: its own CLIENT_ERROR/SERVER_ERROR, or SERVER_ERROR and the cache's reason.</summary>
    internal static string ErrorText(CacheReply error)
    {
        var text = (error.Text ?? "unknown error").ReplaceLineEndings(" ");
        if (text.StartsWith("CLIENT_ERROR ", StringComparison.Ordinal) || text.StartsWith("SERVER_ERROR ", StringComparison.Ordinal))
        {
            return text;
        }

        if (text == RedisText.ValueTooLarge)
        {
            return CacheKeyspace.MemcachedTooLarge;
        }

        if (text.StartsWith("OOM ", StringComparison.Ordinal))
        {
            return "SERVER_ERROR out of memory storing object";
        }

        return "SERVER_ERROR " + (text.StartsWith("ERR ", StringComparison.Ordinal) ? text[4..] : text);
    }

    private void WriteLine(string text, bool noReply)
    {
        if (noReply)
        {
            return;
        }

        WriteLatin1(text);
        Write("\r\n"u8);
    }

    private void Write(ReadOnlySpan<byte> bytes) => _output.Write(bytes);

    private void WriteLatin1(string text)
    {
        var span = _output.GetSpan(text.Length);
        var written = Encoding.Latin1.GetBytes(text, span);
        _output.Advance(written);
    }

    private void WriteNumber(ulong value)
    {
        var span = _output.GetSpan(20);
        value.TryFormat(span, out var written, default, System.Globalization.CultureInfo.InvariantCulture);
        _output.Advance(written);
    }
}
