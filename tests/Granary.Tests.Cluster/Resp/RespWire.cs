using System.Globalization;
using System.Net.Sockets;
using System.Text;
using Granary.Caching;

namespace Granary.Tests.Cluster.Resp;

/// <summary>
/// A bare RESP connection for tests: sends commands as multibulk frames (or raw bytes) and reads whole
/// replies as the server wrote them, byte for byte, so two servers can be compared exactly.
/// </summary>
public sealed class RespWire : IAsyncDisposable
{
    private static readonly TimeSpan ReadTimeout = TimeSpan.FromSeconds(30);

    private readonly TcpClient _client;
    private readonly NetworkStream _stream;
    private readonly byte[] _buffer = new byte[64 * 1024];
    private int _start;
    private int _end;

    private RespWire(TcpClient client)
    {
        _client = client;
        _stream = client.GetStream();
    }

    /// <summary>Connects to 127.0.0.1:<paramref name="port"/>.</summary>
    public static async Task<RespWire> ConnectAsync(int port)
    {
        var client = new TcpClient { NoDelay = true };
        await client.ConnectAsync("127.0.0.1", port);
        return new RespWire(client);
    }

    /// <summary>Encodes a command as a multibulk frame; each argument is a cache string, sent as the bytes it stands for (<see cref="CacheBytes"/>).</summary>
    public static byte[] Encode(params string[] command)
    {
        var frame = new List<byte>(Encoding.ASCII.GetBytes($"*{command.Length.ToString(CultureInfo.InvariantCulture)}\r\n"));
        foreach (var argument in command)
        {
            var bytes = CacheBytes.GetBytes(argument);
            frame.AddRange(Encoding.ASCII.GetBytes($"${bytes.Length.ToString(CultureInfo.InvariantCulture)}\r\n"));
            frame.AddRange(bytes);
            frame.AddRange("\r\n"u8);
        }

        return [.. frame];
    }

    /// <summary>Sends bytes as they are.</summary>
    public async Task SendRawAsync(byte[] bytes) => await _stream.WriteAsync(bytes);

    /// <summary>Sends every command in one write (a pipeline).</summary>
    public Task SendAsync(IEnumerable<string[]> commands) => SendRawAsync([.. commands.SelectMany(Encode)]);

    /// <summary>Sends one command and reads its reply.</summary>
    public async Task<byte[]> CallAsync(params string[] command)
    {
        await SendRawAsync(Encode(command));
        return await ReadReplyAsync();
    }

    /// <summary>Sends one command and reads its reply as text.</summary>
    public async Task<string> CallTextAsync(params string[] command) => Encoding.UTF8.GetString(await CallAsync(command));

    /// <summary>Reads one whole reply (aggregates included) and returns its bytes.</summary>
    public async Task<byte[]> ReadReplyAsync()
    {
        var output = new MemoryStream();
        await ReadValueAsync(output);
        return output.ToArray();
    }

    /// <summary>True when the server closed the connection (reads until end of stream, failing on any other byte).</summary>
    public async Task<bool> IsClosedByServerAsync()
    {
        try
        {
            using var timeout = new CancellationTokenSource(ReadTimeout);
            return _start == _end && await _stream.ReadAsync(_buffer, timeout.Token) == 0;
        }
        catch (IOException)
        {
            return true;
        }
    }

    /// <summary>Closes the sending side: the server sees the end of input.</summary>
    public void ShutdownSend() => _client.Client.Shutdown(SocketShutdown.Send);

    /// <summary>Reads and discards whatever the server sends until it closes the connection; false if it did not within the read timeout.</summary>
    public async Task<bool> DrainUntilClosedAsync()
    {
        using var timeout = new CancellationTokenSource(ReadTimeout);
        try
        {
            while (await _stream.ReadAsync(_buffer, timeout.Token) > 0)
            {
            }

            return true;
        }
        catch (IOException)
        {
            return true;
        }
        catch (OperationCanceledException)
        {
            return false;
        }
    }

    private async Task ReadValueAsync(Stream output)
    {
        var line = await ReadLineAsync(output);
        var type = (char)line[0];
        var number = type is '*' or '%' or '~' or '>' or '$' or '=' or '!' ? long.Parse(Encoding.ASCII.GetString(line, 1, line.Length - 1), CultureInfo.InvariantCulture) : 0;
        switch (type)
        {
            case '$' or '=' or '!' when number >= 0:
                await ReadExactAsync(output, (int)number + 2);
                break;
            case '*' or '~' or '>':
                for (var i = 0; i < number; i++)
                {
                    await ReadValueAsync(output);
                }

                break;
            case '%':
                for (var i = 0; i < 2 * number; i++)
                {
                    await ReadValueAsync(output);
                }

                break;
        }
    }

    private async Task<byte[]> ReadLineAsync(Stream output)
    {
        var line = new List<byte>();
        while (true)
        {
            if (_start == _end)
            {
                await FillAsync();
            }

            var b = _buffer[_start++];
            output.WriteByte(b);
            if (b == (byte)'\n' && line.Count > 0 && line[^1] == (byte)'\r')
            {
                return [.. line.Take(line.Count - 1)];
            }

            line.Add(b);
        }
    }

    private async Task ReadExactAsync(Stream output, int count)
    {
        while (count > 0)
        {
            if (_start == _end)
            {
                await FillAsync();
            }

            var take = Math.Min(count, _end - _start);
            output.Write(_buffer, _start, take);
            _start += take;
            count -= take;
        }
    }

    private async Task FillAsync()
    {
        using var timeout = new CancellationTokenSource(ReadTimeout);
        var read = await _stream.ReadAsync(_buffer, timeout.Token);
        if (read == 0)
        {
            throw new IOException("the server closed the connection");
        }

        _start = 0;
        _end = read;
    }

    /// <inheritdoc/>
    public async ValueTask DisposeAsync()
    {
        await _stream.DisposeAsync();
        _client.Dispose();
    }
}
