using System.Net.Sockets;
using System.Text;

namespace Granary.Tests.Cluster.Memcached;

/// <summary>A raw Memcached text-protocol connection: sends bytes, reads until a known ending.</summary>
public sealed class MemcachedWire : IAsyncDisposable
{
    private static readonly TimeSpan ReadTimeout = TimeSpan.FromSeconds(30);

    private readonly TcpClient _client;
    private readonly NetworkStream _stream;
    private readonly MemoryStream _pending = new();
    private readonly byte[] _buffer = new byte[64 * 1024];

    private MemcachedWire(TcpClient client)
    {
        _client = client;
        _stream = client.GetStream();
    }

    /// <summary>Connects to 127.0.0.1:<paramref name="port"/>.</summary>
    public static async Task<MemcachedWire> ConnectAsync(int port)
    {
        var client = new TcpClient { NoDelay = true };
        await client.ConnectAsync("127.0.0.1", port);
        return new MemcachedWire(client);
    }

    /// <summary>Sends bytes as they are.</summary>
    public async Task SendAsync(byte[] bytes) => await _stream.WriteAsync(bytes);

    /// <summary>Sends text as UTF-8.</summary>
    public Task SendAsync(string text) => SendAsync(Encoding.UTF8.GetBytes(text));

    /// <summary>Sends <c>version</c> after <paramref name="text"/> and returns everything answered before the VERSION line.</summary>
    public async Task<byte[]> CallAsync(string text)
    {
        await SendAsync(text + "version\r\n");
        return await ReadUntilVersionAsync();
    }

    /// <summary>Sends a command and returns its reply as text (everything before the VERSION line of a following <c>version</c>).</summary>
    public async Task<string> CallTextAsync(string text) => Encoding.UTF8.GetString(await CallAsync(text));

    /// <summary>Reads up to and including the next line starting with <c>VERSION </c>; returns what came before it.</summary>
    public async Task<byte[]> ReadUntilVersionAsync()
    {
        using var timeout = new CancellationTokenSource(ReadTimeout);
        while (true)
        {
            var bytes = _pending.ToArray();
            var at = FindVersionLine(bytes);
            if (at is var (start, end))
            {
                _pending.SetLength(0);
                _pending.Write(bytes, end, bytes.Length - end);
                return bytes[..start];
            }

            var read = await _stream.ReadAsync(_buffer, timeout.Token);
            if (read == 0)
            {
                throw new IOException("closed before VERSION; got: " + Encoding.UTF8.GetString(bytes));
            }

            _pending.Write(_buffer, 0, read);
        }
    }

    /// <summary>Reads until the server closes the connection; returns what came (false when it did not close within the timeout).</summary>
    public async Task<(bool Closed, string Text)> ReadUntilClosedAsync()
    {
        using var timeout = new CancellationTokenSource(ReadTimeout);
        try
        {
            int read;
            while ((read = await _stream.ReadAsync(_buffer, timeout.Token)) > 0)
            {
                _pending.Write(_buffer, 0, read);
            }

            return (true, Encoding.UTF8.GetString(_pending.ToArray()));
        }
        catch (IOException)
        {
            return (true, Encoding.UTF8.GetString(_pending.ToArray()));
        }
        catch (OperationCanceledException)
        {
            return (false, Encoding.UTF8.GetString(_pending.ToArray()));
        }
    }

    /// <summary>Closes the sending side: the server sees the end of input.</summary>
    public void ShutdownSend() => _client.Client.Shutdown(SocketShutdown.Send);

    private static (int Start, int End)? FindVersionLine(byte[] bytes)
    {
        var lineStart = 0;
        while (lineStart < bytes.Length)
        {
            var newline = Array.IndexOf(bytes, (byte)'\n', lineStart);
            if (newline < 0)
            {
                return null;
            }

            if (bytes.AsSpan(lineStart).StartsWith("VERSION "u8))
            {
                return (lineStart, newline + 1);
            }

            // Skip a VALUE line's data block: it may hold any bytes.
            if (bytes.AsSpan(lineStart).StartsWith("VALUE "u8))
            {
                var header = Encoding.ASCII.GetString(bytes, lineStart, newline - lineStart).TrimEnd('\r').Split(' ');
                var length = int.Parse(header[3], System.Globalization.CultureInfo.InvariantCulture);
                lineStart = newline + 1 + length + 2;
                continue;
            }

            lineStart = newline + 1;
        }

        return null;
    }

    /// <inheritdoc/>
    public async ValueTask DisposeAsync()
    {
        await _stream.DisposeAsync();
        _client.Dispose();
    }
}
