using System.Buffers;
using System.IO.Pipelines;
using System.Net.Security;
using System.Runtime.CompilerServices;
using Microsoft.AspNetCore.Connections;
using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.Logging;
using Microsoft.Extensions.Logging.Abstractions;

namespace Granary.Client.Security;

/// <summary>
/// TLS on an Orleans connection (silo port, gateway port, a silo's outgoing connections, a client's
/// gateway connections): an <see cref="SslStream"/> over the transport's pipes, offered to Orleans as
/// pipes again. Orleans' traffic is many small flushes, so this step is written for them:
/// <list type="bullet">
/// <item>one flush of the connection is one write of the transport: the encrypted records of a flush
/// are gathered in the transport's pipe and sent together (after the handshake; during it every
/// write is sent at once);</item>
/// <item>buffers of one TLS record's size (16 KiB of plaintext), so a flush is usually one record and
/// a read takes a whole record.</item>
/// </list>
/// The handshake has a deadline (the connection is aborted when it passes). A failed handshake closes
/// the connection and calls nothing further; whoever wraps this step sees it return.
/// </summary>
internal static class TlsConnection
{
    // A TLS record carries at most 16 KiB of plaintext.
    private const int RecordSize = 16 * 1024;

    private static readonly StreamPipeReaderOptions ReaderOptions = new(bufferSize: RecordSize, minimumReadSize: 4096, leaveOpen: true);
    private static readonly StreamPipeWriterOptions WriterOptions = new(minimumBufferSize: RecordSize, leaveOpen: true);

    /// <summary>The server side: the remote must complete a handshake under <paramref name="options"/> within <paramref name="handshakeTimeout"/>.</summary>
    public static void UseGranaryServerTls(this IConnectionBuilder connection, SslServerAuthenticationOptions options, TimeSpan handshakeTimeout)
    {
        ArgumentNullException.ThrowIfNull(connection);
        connection.Use(next => context => RunAsync(context, next, (ssl, token) => ssl.AuthenticateAsServerAsync(options, token), handshakeTimeout, logger: null));
    }

    /// <summary>The client side: a handshake under <paramref name="options"/> within <paramref name="handshakeTimeout"/>; a failure is logged.</summary>
    public static void UseGranaryClientTls(this IConnectionBuilder connection, SslClientAuthenticationOptions options, TimeSpan handshakeTimeout)
    {
        ArgumentNullException.ThrowIfNull(connection);
        var logger = connection.ApplicationServices.GetService<ILoggerFactory>()?.CreateLogger(typeof(TlsConnection)) ?? NullLogger.Instance;
        connection.Use(next => context => RunAsync(context, next, (ssl, token) => ssl.AuthenticateAsClientAsync(options, token), handshakeTimeout, logger));
    }

    private static async Task RunAsync(
        ConnectionContext context,
        ConnectionDelegate next,
        Func<SslStream, CancellationToken, Task> authenticate,
        TimeSpan handshakeTimeout,
        ILogger? logger)
    {
        var transport = context.Transport;
        var stream = new TransportStream(transport);
        var ssl = new SslStream(stream, leaveInnerStreamOpen: false);
        using (var deadline = new CancellationTokenSource(handshakeTimeout))
        using (deadline.Token.UnsafeRegister(static state => ((ConnectionContext)state!).Abort(), context))
        {
            try
            {
                await authenticate(ssl, deadline.Token).ConfigureAwait(false);
            }
            catch (Exception ex) when (ex is not OutOfMemoryException)
            {
                if (logger is not null)
                {
                    TlsLog.ClientHandshakeFailed(logger, context.RemoteEndPoint?.ToString() ?? "unknown", deadline.IsCancellationRequested ? "timed out" : ex.Message);
                }

                await ssl.DisposeAsync().ConfigureAwait(false);
                return;
            }
        }

        stream.GatherWrites = true;
        var input = PipeReader.Create(ssl, ReaderOptions);
        var output = PipeWriter.Create(ssl, WriterOptions);
        try
        {
            context.Transport = new DuplexPipe(input, output);
            await next(context).ConfigureAwait(false);
        }
        finally
        {
            // The TLS pipes first (they may still be writing into the stream), then the stream, which
            // completes the transport's pipes; the original transport goes back to be closed.
            await input.CompleteAsync().ConfigureAwait(false);
            await output.CompleteAsync().ConfigureAwait(false);
            await ssl.DisposeAsync().ConfigureAwait(false);
            context.Transport = transport;
        }
    }

    private sealed class DuplexPipe(PipeReader input, PipeWriter output) : IDuplexPipe
    {
        public PipeReader Input { get; } = input;

        public PipeWriter Output { get; } = output;
    }

    /// <summary>
    /// The transport's pipes as the stream <see cref="SslStream"/> reads and writes. With
    /// <see cref="GatherWrites"/>, a write only copies into the transport's pipe and the flush that
    /// the TLS pipe sends at the end of each of its flushes sends them all.
    /// </summary>
    private sealed class TransportStream(IDuplexPipe transport) : Stream
    {
        private readonly PipeReader _reader = transport.Input;
        private readonly PipeWriter _writer = transport.Output;

        /// <summary>False during the handshake (every write is flushed at once), true after it.</summary>
        public bool GatherWrites { get; set; }

        public override bool CanRead => true;

        public override bool CanSeek => false;

        public override bool CanWrite => true;

        public override long Length => throw new NotSupportedException();

        public override long Position
        {
            get => throw new NotSupportedException();
            set => throw new NotSupportedException();
        }

        [AsyncMethodBuilder(typeof(PoolingAsyncValueTaskMethodBuilder<>))]
        public override async ValueTask<int> ReadAsync(Memory<byte> buffer, CancellationToken cancellationToken = default)
        {
            var result = await _reader.ReadAsync(cancellationToken).ConfigureAwait(false);
            if (result.IsCanceled)
            {
                throw new OperationCanceledException(cancellationToken);
            }

            var available = result.Buffer;
            var taken = (int)Math.Min(available.Length, buffer.Length);
            var slice = available.Slice(0, taken);
            slice.CopyTo(buffer.Span);
            _reader.AdvanceTo(slice.End);
            if (taken == 0 && buffer.Length > 0 && !result.IsCompleted)
            {
                throw new InvalidOperationException("The transport returned an empty read before it completed.");
            }

            return taken;
        }

        public override Task<int> ReadAsync(byte[] buffer, int offset, int count, CancellationToken cancellationToken) =>
            ReadAsync(buffer.AsMemory(offset, count), cancellationToken).AsTask();

        public override int Read(byte[] buffer, int offset, int count) => ReadAsync(buffer.AsMemory(offset, count)).AsTask().GetAwaiter().GetResult();

        public override ValueTask WriteAsync(ReadOnlyMemory<byte> buffer, CancellationToken cancellationToken = default)
        {
            _writer.Write(buffer.Span);
            return GatherWrites ? ValueTask.CompletedTask : new ValueTask(FlushAsync(cancellationToken));
        }

        public override Task WriteAsync(byte[] buffer, int offset, int count, CancellationToken cancellationToken) =>
            WriteAsync(buffer.AsMemory(offset, count), cancellationToken).AsTask();

        public override void Write(byte[] buffer, int offset, int count) => WriteAsync(buffer.AsMemory(offset, count)).AsTask().GetAwaiter().GetResult();

        public override Task FlushAsync(CancellationToken cancellationToken)
        {
            var flush = _writer.FlushAsync(cancellationToken);
            if (flush.IsCompletedSuccessfully)
            {
                return flush.Result.IsCanceled ? Task.FromException(new OperationCanceledException(cancellationToken)) : Task.CompletedTask;
            }

            return AwaitFlushAsync(flush, cancellationToken);
        }

        private static async Task AwaitFlushAsync(ValueTask<FlushResult> flush, CancellationToken cancellationToken)
        {
            if ((await flush.ConfigureAwait(false)).IsCanceled)
            {
                throw new OperationCanceledException(cancellationToken);
            }
        }

        public override void Flush() => FlushAsync(CancellationToken.None).GetAwaiter().GetResult();

        public override long Seek(long offset, SeekOrigin origin) => throw new NotSupportedException();

        public override void SetLength(long value) => throw new NotSupportedException();

        protected override void Dispose(bool disposing)
        {
            if (disposing)
            {
                _reader.Complete();
                _writer.Complete();
            }

            base.Dispose(disposing);
        }
    }
}

/// <summary>Log messages of <see cref="TlsConnection"/>.</summary>
internal static partial class TlsLog
{
    [LoggerMessage(EventId = 7301, Level = LogLevel.Warning, Message = "TLS handshake with {Remote} failed: {Reason}")]
    public static partial void ClientHandshakeFailed(ILogger logger, string remote, string reason);
}
