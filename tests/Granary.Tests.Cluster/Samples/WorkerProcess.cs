using System.Diagnostics;
using System.Globalization;
using Granary.Tests.Cluster.Infrastructure;

namespace Granary.Tests.Cluster.Samples;

/// <summary>
/// The built grocery worker (<c>samples/Granary.Grocery.Worker</c>) run as an OS process of its own,
/// configured through environment variables only, as an operator would run it.
/// </summary>
internal sealed class WorkerProcess : IAsyncDisposable
{
    private readonly Process _process;
    private readonly OutputTail _output = new(40);
    private readonly DirectoryInfo _directory;

    private WorkerProcess(Process process, DirectoryInfo directory)
    {
        _process = process;
        _directory = directory;
    }

    /// <summary>The worker's OS process id.</summary>
    public int ProcessId => _process.Id;

    /// <summary>True once the process exited (a worker runs until stopped).</summary>
    public bool HasExited => _process.HasExited;

    /// <summary>
    /// Starts the worker with <paramref name="settings"/> (configuration keys, passed as
    /// <c>Section__Key</c> variables) serving <paramref name="queue"/>, in an empty working directory
    /// (so no repository file configures it).
    /// </summary>
    public static WorkerProcess Start(IReadOnlyDictionary<string, string> settings, string queue)
    {
        var directory = Directory.CreateTempSubdirectory("granary-worker-");
        var start = new ProcessStartInfo("dotnet")
        {
            WorkingDirectory = directory.FullName,
            UseShellExecute = false,
            RedirectStandardOutput = true,
            RedirectStandardError = true,
        };
        start.ArgumentList.Add(RepositoryPaths.SampleWorkerAssembly);
        foreach (var (key, value) in settings)
        {
            start.Environment[key.Replace(":", "__", StringComparison.Ordinal)] = value;
        }

        start.Environment["Grocery__Queue"] = queue;
        start.Environment["DOTNET_gcServer"] = "0"; // shares two cores with the test's silos
        var process = Process.Start(start) ?? throw new InvalidOperationException("could not start the worker process");
        var worker = new WorkerProcess(process, directory);
        process.OutputDataReceived += (_, e) => worker._output.Add(e.Data);
        process.ErrorDataReceived += (_, e) => worker._output.Add(e.Data);
        process.BeginOutputReadLine();
        process.BeginErrorReadLine();
        return worker;
    }

    /// <summary>Pid, state and the last lines of output, for failure messages.</summary>
    public string Describe() => string.Create(
        CultureInfo.InvariantCulture,
        $"pid {_process.Id}, {(_process.HasExited ? $"exited with {_process.ExitCode}" : "running")}; output: {_output}");

    /// <inheritdoc/>
    public async ValueTask DisposeAsync()
    {
        if (!_process.HasExited)
        {
            _process.Kill(entireProcessTree: true);
        }

        await _process.WaitForExitAsync();
        _process.Dispose();
        _directory.Delete(recursive: true);
    }
}
