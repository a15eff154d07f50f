using System.Diagnostics;
using System.Text;

namespace Granary.Tests.Cluster.Infrastructure;

/// <summary>Finds and runs the external programs (redis-server, initdb, pg_ctl) the test servers use.</summary>
internal static class ChildProcess
{
    /// <summary>
    /// Looks for <paramref name="name"/> on PATH, then in <paramref name="extraDirectories"/>
    /// (which may end in a <c>*</c> segment, e.g. <c>/usr/lib/postgresql/*/bin</c>; the
    /// highest-sorting match wins). Returns null when it is nowhere.
    /// </summary>
    public static string? FindExecutable(string name, params string[] extraDirectories)
    {
        var path = Environment.GetEnvironmentVariable("PATH") ?? string.Empty;
        var directories = path.Split(Path.PathSeparator, StringSplitOptions.RemoveEmptyEntries)
            .Concat(extraDirectories.SelectMany(ExpandDirectory));
        foreach (var directory in directories)
        {
            var candidate = Path.Combine(directory, name);
            if (File.Exists(candidate))
            {
                return candidate;
            }
        }

        return null;
    }

    /// <summary>Whether this process runs as root (initdb and postgres refuse to run as root).</summary>
    public static bool IsRoot => Environment.IsPrivilegedProcess && !OperatingSystem.IsWindows();

    /// <summary>
    /// Runs a program to completion and returns its exit code with its stdout and stderr
    /// interleaved (the last <paramref name="keepLines"/> lines). When <paramref name="runAs"/> is
    /// given and this process is root, the program runs as that user through <c>runuser</c>.
    /// </summary>
    public static async Task<CommandResult> RunAsync(
        string fileName,
        IReadOnlyList<string> arguments,
        TimeSpan timeout,
        CancellationToken cancellationToken,
        string? runAs = null,
        string? workingDirectory = null,
        int keepLines = 400,
        IReadOnlyDictionary<string, string>? environment = null)
    {
        var startInfo = new ProcessStartInfo
        {
            RedirectStandardOutput = true,
            RedirectStandardError = true,
            RedirectStandardInput = true,
            UseShellExecute = false,
            WorkingDirectory = workingDirectory ?? string.Empty,
        };
        if (runAs is not null && IsRoot)
        {
            startInfo.FileName = FindExecutable("runuser", "/usr/sbin", "/sbin", "/usr/bin", "/bin")
                ?? throw new InvalidOperationException("runuser (util-linux) is needed to run PostgreSQL tools as a non-root user.");
            startInfo.ArgumentList.Add("-u");
            startInfo.ArgumentList.Add(runAs);
            startInfo.ArgumentList.Add("--");
            startInfo.ArgumentList.Add(fileName);
        }
        else
        {
            startInfo.FileName = fileName;
        }

        foreach (var argument in arguments)
        {
            startInfo.ArgumentList.Add(argument);
        }

        foreach (var (name, value) in environment ?? new Dictionary<string, string>())
        {
            startInfo.Environment[name] = value;
        }

        var output = new OutputTail(keepLines);
        using var process = new Process { StartInfo = startInfo };
        process.OutputDataReceived += (_, e) => output.Add(e.Data);
        process.ErrorDataReceived += (_, e) => output.Add(e.Data);
        process.Start();
        process.StandardInput.Close();
        process.BeginOutputReadLine();
        process.BeginErrorReadLine();

        using var timeoutSource = CancellationTokenSource.CreateLinkedTokenSource(cancellationToken);
        timeoutSource.CancelAfter(timeout);
        try
        {
            await process.WaitForExitAsync(timeoutSource.Token);
        }
        catch (OperationCanceledException)
        {
            process.Kill(entireProcessTree: true);
            await process.WaitForExitAsync(CancellationToken.None);
            cancellationToken.ThrowIfCancellationRequested();
            throw new TimeoutException(
                $"{Describe(startInfo)} did not finish within {timeout.TotalSeconds:0} s. Output:{Environment.NewLine}{output}");
        }

        return new CommandResult(process.ExitCode, output.ToString(), Describe(startInfo));
    }

    private static string Describe(ProcessStartInfo startInfo) =>
        string.Join(' ', startInfo.ArgumentList.Prepend(startInfo.FileName));

    private static IEnumerable<string> ExpandDirectory(string directory)
    {
        if (!directory.Contains('*', StringComparison.Ordinal))
        {
            return [directory];
        }

        // Only a single "*" segment is supported, which is all the PostgreSQL layout needs.
        var star = directory.IndexOf('*', StringComparison.Ordinal);
        var parent = directory[..star].TrimEnd('/');
        var rest = directory[(star + 1)..].TrimStart('/');
        if (!Directory.Exists(parent))
        {
            return [];
        }

        return Directory.GetDirectories(parent)
            .OrderByDescending(d => d, StringComparer.Ordinal)
            .Select(d => Path.Combine(d, rest));
    }
}

/// <summary>The outcome of <see cref="ChildProcess.RunAsync"/>.</summary>
internal sealed record CommandResult(int ExitCode, string Output, string CommandLine)
{
    public CommandResult EnsureSuccess()
    {
        if (ExitCode != 0)
        {
            throw new InvalidOperationException(
                $"{CommandLine} exited with code {ExitCode}. Output:{Environment.NewLine}{Output}");
        }

        return this;
    }
}

/// <summary>Keeps the last lines a child process printed, for error messages.</summary>
internal sealed class OutputTail(int maxLines)
{
    private readonly Queue<string> _lines = new();
    private readonly Lock _linesLock = new();

    public void Add(string? line)
    {
        if (line is null)
        {
            return;
        }

        lock (_linesLock)
        {
            _lines.Enqueue(line);
            while (_lines.Count > maxLines)
            {
                _lines.Dequeue();
            }
        }
    }

    public override string ToString()
    {
        lock (_linesLock)
        {
            var text = new StringBuilder();
            foreach (var line in _lines)
            {
                text.AppendLine(line);
            }

            return text.ToString();
        }
    }

    /// <summary>The last <paramref name="count"/> lines of a log file, or a note that it could not be read.</summary>
    public static string OfFile(string path, int count)
    {
        try
        {
            return File.Exists(path)
                ? string.Join(Environment.NewLine, File.ReadLines(path).TakeLast(count))
                : $"(no log file at {path})";
        }
        catch (IOException e)
        {
            return $"(could not read {path}: {e.Message})";
        }
    }
}
