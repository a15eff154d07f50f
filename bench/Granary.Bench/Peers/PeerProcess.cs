using System.ComponentModel;
using System.Diagnostics;
using Granary.Cli.Cli;

namespace Granary.Bench.Peers;

/// <summary>
/// A process a peer needs (a private server, or a peer's own client program) started by the bench:
/// its last output lines are kept for the error that explains a failed start, and on dispose the
/// whole process tree is killed and its scratch directory deleted.
/// </summary>
public sealed class PeerProcess : IAsyncDisposable
{
    private readonly Process _process;
    private readonly DirectoryInfo? _directory;
    private readonly Queue<string> _lastLines = new();

    private PeerProcess(string what, Process process, DirectoryInfo? directory)
    {
        What = what;
        _process = process;
        _directory = directory;
    }

    /// <summary>What the process is, for messages (<c>--peer etcd: etcd</c>).</summary>
    public string What { get; }

    /// <summary>The process id.</summary>
    public int Pid => _process.Id;

    /// <summary>Its standard input (when started with <c>RedirectStandardInput</c>).</summary>
    public StreamWriter Input => _process.StandardInput;

    /// <summary>
    /// Starts <paramref name="start"/> (standard output and error are redirected here). Each standard
    /// output line goes to <paramref name="onOutput"/> when given, else it is kept like standard error.
    /// <paramref name="directory"/>, when given, is deleted on dispose (and if the start fails).
    /// </summary>
    public static PeerProcess Start(string what, ProcessStartInfo start, DirectoryInfo? directory, Action<string>? onOutput = null)
    {
        ArgumentNullException.ThrowIfNull(start);
        start.UseShellExecute = false;
        start.RedirectStandardOutput = true;
        start.RedirectStandardError = true;
        Process process;
        try
        {
            process = Process.Start(start) ?? throw new UsageException($"{what}: could not start {start.FileName}");
        }
        catch (Win32Exception ex)
        {
            directory?.Delete(recursive: true);
            throw new UsageException($"{what} needs {start.FileName} on PATH ({ex.Message})");
        }

        var peer = new PeerProcess(what, process, directory);
        process.OutputDataReceived += (_, e) =>
        {
            if (e.Data is not null && onOutput is not null)
            {
                onOutput(e.Data);
            }
            else
            {
                peer.Keep(e.Data);
            }
        };
        process.ErrorDataReceived += (_, e) => peer.Keep(e.Data);
        process.BeginOutputReadLine();
        process.BeginErrorReadLine();
        return peer;
    }

    /// <summary>Asks <paramref name="ready"/> every 100 ms until it answers true; fails with the process's last lines if it exits or <paramref name="timeout"/> passes.</summary>
    public async Task WaitUntilAsync(Func<CancellationToken, Task<bool>> ready, TimeSpan timeout, CancellationToken cancellationToken)
    {
        ArgumentNullException.ThrowIfNull(ready);
        var deadline = Stopwatch.StartNew();
        while (true)
        {
            if (_process.HasExited)
            {
                throw new UsageException($"{What} exited with code {_process.ExitCode}: {LastLines()}");
            }

            if (await ready(cancellationToken))
            {
                return;
            }

            if (deadline.Elapsed > timeout)
            {
                throw new UsageException($"{What} not ready after {timeout.TotalSeconds:F0} s: {LastLines()}");
            }

            await Task.Delay(TimeSpan.FromMilliseconds(100), cancellationToken);
        }
    }

    /// <summary>The last 20 lines it wrote that no handler took.</summary>
    public string LastLines()
    {
        lock (_lastLines)
        {
            return string.Join(Environment.NewLine, _lastLines);
        }
    }

    /// <inheritdoc/>
    public async ValueTask DisposeAsync()
    {
        try
        {
            if (!_process.HasExited)
            {
                _process.Kill(entireProcessTree: true);
            }

            await _process.WaitForExitAsync();
        }
        catch (InvalidOperationException)
        {
            // Never started.
        }

        _process.Dispose();
        try
        {
            _directory?.Delete(recursive: true);
        }
        catch (IOException)
        {
            // Left in the temporary directory.
        }
    }

    private void Keep(string? line)
    {
        if (line is null)
        {
            return;
        }

        lock (_lastLines)
        {
            _lastLines.Enqueue(line);
            while (_lastLines.Count > 20)
            {
                _lastLines.Dequeue();
            }
        }
    }
}
