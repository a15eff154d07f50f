using System.Diagnostics;
using System.Net.Sockets;
using System.Text;

namespace Granary.Tests.Cluster.Infrastructure;

/// <summary>
/// A private <c>redis-server</c> child process on a free loopback port, with no
/// persistence, for one test run. Like the servers the scripts start it requires a password
/// (<c>requirepass</c>, generated per server, read from a 0600 file rather than the command
/// line), which <see cref="ConnectionString"/> carries.
/// </summary>
/// <remarks>
/// <code>
/// await using var redis = await RedisServer.StartAsync();
/// var options = ConfigurationOptions.Parse(redis.ConnectionString);
/// </code>
/// </remarks>
public sealed class RedisServer : IAsyncDisposable
{
    private const int MaxPortAttempts = 3;

    private static readonly TimeSpan StartTimeout = TimeSpan.FromSeconds(30);
    private static readonly TimeSpan StopTimeout = TimeSpan.FromSeconds(10);
    private static readonly TimeSpan PollInterval = TimeSpan.FromMilliseconds(25);

    private readonly Process _process;
    private readonly OutputTail _output;
    private readonly string _directory;
    private int _disposed;

    private RedisServer(Process process, OutputTail output, string directory, int port, string password)
    {
        Password = password;
        _process = process;
        _output = output;
        _directory = directory;
        Port = port;
    }

    /// <summary>The loopback TCP port the server listens on.</summary>
    public int Port { get; }

    /// <summary>The password of the default user.</summary>
    public string Password { get; }

    /// <summary>StackExchange.Redis configuration string, <c>127.0.0.1:PORT,password=...</c>.</summary>
    public string ConnectionString => $"127.0.0.1:{Port},password={Password}";

    /// <summary>What the server printed so far (last lines), for diagnostics.</summary>
    public string OutputTail => _output.ToString();

    /// <summary>Starts a server and returns once it answers PING.</summary>
    /// <exception cref="InvalidOperationException">redis-server is not installed, or it failed to start.</exception>
    public static async Task<RedisServer> StartAsync(CancellationToken ct = default) => await StartAsync(string.Empty, ct);

    /// <summary>Starts a server with extra <paramref name="configuration"/> lines (e.g. <c>cluster-enabled yes</c>).</summary>
    public static async Task<RedisServer> StartAsync(string configuration, CancellationToken ct = default)
    {
        var executable = ChildProcess.FindExecutable("redis-server", "/usr/bin", "/usr/local/bin")
            ?? throw new InvalidOperationException(
                "redis-server was not found on PATH, in /usr/bin or in /usr/local/bin. " +
                "Run scripts/test.sh, which installs it (Debian package redis-server).");

        for (var attempt = 1; ; attempt++)
        {
            var directory = Directory.CreateTempSubdirectory("granary-redis-").FullName;
            var port = FreePort.Next();
            var password = Convert.ToHexString(System.Security.Cryptography.RandomNumberGenerator.GetBytes(24));
            var output = new OutputTail(maxLines: 200);
            var process = Launch(executable, directory, port, password, output, configuration);
            try
            {
                await WaitUntilReadyAsync(process, port, password, output, ct);
                return new RedisServer(process, output, directory, port, password);
            }
            catch (Exception e) when (e is not OperationCanceledException
                && attempt < MaxPortAttempts
                && output.ToString().Contains("Address already in use", StringComparison.Ordinal))
            {
                // Another process took the port between FreePort.Next() and our bind: try another one.
                await StopAsync(process, port, password);
                DeleteDirectory(directory);
            }
            catch
            {
                await StopAsync(process, port, password);
                DeleteDirectory(directory);
                throw;
            }
        }
    }

    /// <summary>Shuts the server down (SHUTDOWN NOSAVE, then kill), waits for it to exit and deletes its directory.</summary>
    public async ValueTask DisposeAsync()
    {
        if (Interlocked.Exchange(ref _disposed, 1) != 0)
        {
            return;
        }

        await StopAsync(_process, Port, Password);
        DeleteDirectory(_directory);
    }

    private static Process Launch(string executable, string directory, int port, string password, OutputTail output, string configuration)
    {
        var configFile = Path.Combine(directory, "redis.conf");
        File.WriteAllText(configFile, $"requirepass {password}\nprotected-mode yes\n{configuration}\n");
        if (!OperatingSystem.IsWindows())
        {
            File.SetUnixFileMode(configFile, UnixFileMode.UserRead | UnixFileMode.UserWrite);
        }

        var startInfo = new ProcessStartInfo(executable)
        {
            RedirectStandardOutput = true,
            RedirectStandardError = true,
            UseShellExecute = false,
            WorkingDirectory = directory,
        };
        string[] arguments =
        [
            configFile,
            "--port", port.ToString(System.Globalization.CultureInfo.InvariantCulture),
            "--bind", "127.0.0.1",
            "--save", string.Empty,
            "--appendonly", "no",
            "--daemonize", "no",
            "--dir", directory,
        ];
        foreach (var argument in arguments)
        {
            startInfo.ArgumentList.Add(argument);
        }

        var process = new Process { StartInfo = startInfo };
        process.OutputDataReceived += (_, e) => output.Add(e.Data);
        process.ErrorDataReceived += (_, e) => output.Add(e.Data);
        process.Start();
        process.BeginOutputReadLine();
        process.BeginErrorReadLine();
        return process;
    }

    private static async Task WaitUntilReadyAsync(Process process, int port, string password, OutputTail output, CancellationToken ct)
    {
        Exception? lastError = null;
        async Task<bool> AnswersAsync()
        {
            ct.ThrowIfCancellationRequested();
            if (process.HasExited)
            {
                await process.WaitForExitAsync(ct); // drains the captured output
                throw new InvalidOperationException(
                    $"redis-server on port {port} exited with code {process.ExitCode} before answering PING. Output:{Environment.NewLine}{output}");
            }

            try
            {
                // PONG alone could come from another server that took the port first;
                // only our own process id in INFO proves that our server is listening.
                return await SendCommandAsync(port, password, "PING", ct) == "+PONG"
                    && await QueryProcessIdAsync(port, password, ct) == process.Id;
            }
            catch (Exception e) when (e is SocketException or IOException)
            {
                lastError = e;
                return false;
            }
        }

        try
        {
            await Eventually.TrueAsync($"redis-server on port {port} answers PING", AnswersAsync, StartTimeout, PollInterval);
        }
        catch (TimeoutException e)
        {
            throw new InvalidOperationException(
                $"redis-server on port {port} did not answer PING within {StartTimeout.TotalSeconds:0} s " +
                $"(last error: {lastError?.Message ?? "none"}). Output:{Environment.NewLine}{output}", e);
        }
    }

    /// <summary>Authenticates, sends one inline command and returns its first reply line (without CRLF).</summary>
    private static async Task<string> SendCommandAsync(int port, string password, string command, CancellationToken ct)
    {
        using var client = new TcpClient();
        using var attemptTimeout = CancellationTokenSource.CreateLinkedTokenSource(ct);
        attemptTimeout.CancelAfter(TimeSpan.FromSeconds(2));
        try
        {
            await client.ConnectAsync("127.0.0.1", port, attemptTimeout.Token);
            var stream = client.GetStream();
            await stream.WriteAsync(Encoding.ASCII.GetBytes($"AUTH {password}\r\n{command}\r\n"), attemptTimeout.Token);
            using var reader = new StreamReader(stream, Encoding.ASCII, leaveOpen: true);
            var auth = await reader.ReadLineAsync(attemptTimeout.Token);
            return auth == "+OK" ? await reader.ReadLineAsync(attemptTimeout.Token) ?? string.Empty : auth ?? string.Empty;
        }
        catch (OperationCanceledException) when (!ct.IsCancellationRequested)
        {
            throw new IOException($"No reply to {command} from 127.0.0.1:{port} within 2 s.");
        }
    }

    /// <summary>Reads <c>process_id</c> from <c>INFO server</c>; null if the reply has none.</summary>
    private static async Task<int?> QueryProcessIdAsync(int port, string password, CancellationToken ct)
    {
        using var client = new TcpClient();
        using var attemptTimeout = CancellationTokenSource.CreateLinkedTokenSource(ct);
        attemptTimeout.CancelAfter(TimeSpan.FromSeconds(2));
        try
        {
            await client.ConnectAsync("127.0.0.1", port, attemptTimeout.Token);
            var stream = client.GetStream();
            await stream.WriteAsync(Encoding.ASCII.GetBytes($"AUTH {password}\r\nINFO server\r\n"), attemptTimeout.Token);
            using var reader = new StreamReader(stream, Encoding.ASCII, leaveOpen: true);
            if (await reader.ReadLineAsync(attemptTimeout.Token) != "+OK")
            {
                return null;
            }

            var header = await reader.ReadLineAsync(attemptTimeout.Token);
            if (header is null || !header.StartsWith('$'))
            {
                return null;
            }

            // A bulk string of key:value lines, ending with an empty line.
            while (await reader.ReadLineAsync(attemptTimeout.Token) is { Length: > 0 } line)
            {
                const string Key = "process_id:";
                if (line.StartsWith(Key, StringComparison.Ordinal)
                    && int.TryParse(line.AsSpan(Key.Length), System.Globalization.CultureInfo.InvariantCulture, out var pid))
                {
                    return pid;
                }
            }

            return null;
        }
        catch (OperationCanceledException) when (!ct.IsCancellationRequested)
        {
            throw new IOException($"No reply to INFO from 127.0.0.1:{port} within 2 s.");
        }
    }

    private static async Task StopAsync(Process process, int port, string password)
    {
        try
        {
            if (!process.HasExited)
            {
                try
                {
                    // The server closes the connection instead of replying when it shuts down.
                    await SendCommandAsync(port, password, "SHUTDOWN NOSAVE", CancellationToken.None);
                }
                catch (Exception e) when (e is SocketException or IOException)
                {
                    // Not reachable: fall through to kill.
                }

                using var stopTimeout = new CancellationTokenSource(StopTimeout);
                try
                {
                    await process.WaitForExitAsync(stopTimeout.Token);
                }
                catch (OperationCanceledException)
                {
                    process.Kill(entireProcessTree: true);
                    await process.WaitForExitAsync(CancellationToken.None);
                }
            }
        }
        finally
        {
            process.Dispose();
        }
    }

    private static void DeleteDirectory(string directory)
    {
        try
        {
            Directory.Delete(directory, recursive: true);
        }
        catch (DirectoryNotFoundException)
        {
        }
    }
}
