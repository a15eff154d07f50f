using System.Collections.Concurrent;
using System.Diagnostics;
using System.Globalization;
using Granary.Bench.Cpu;
using Granary.Bench.Peers;
using Granary.Cli.Cli;
using Granary.Cli.Locks;

namespace Granary.Bench.Locks;

/// <summary>
/// ZooKeeper's lock recipe (ephemeral sequential nodes, each waiter watching only its predecessor:
/// FIFO, one wake-up per release) run by ZooKeeper's own Java client in a driver process
/// (<c>ZooKeeperLockDriver.java</c>, one session shared by every caller) that this target sends
/// acquire and release requests over a pipe. Every grant is two ZooKeeper transactions (create, then
/// delete at release), each fsynced to ZooKeeper's log before it is acknowledged: durable grants,
/// like Granary's durable mode. The node's sequence number is the grant's token (its order).
/// The pipe adds a few microseconds per request to the driver's CPU, beside ZooKeeper's milliseconds.
/// </summary>
public sealed class ZooKeeperLockBenchTarget(LockWorkload workload, string? connectString, BenchSettings settings) : IBenchTarget
{
    private static readonly TimeSpan DriverStartTimeout = TimeSpan.FromSeconds(60);
    private readonly ConcurrentDictionary<long, TaskCompletionSource<string>> _pending = new();
    private readonly TaskCompletionSource _ready = new(TaskCreationOptions.RunContinuationsAsynchronously);
    private readonly Lock _inputLock = new();
    private ZooKeeperServer? _server;
    private PeerProcess? _driver;
    private long _nextId;

    /// <summary>Grants as the callers saw them.</summary>
    public GrantLog Log { get; } = new();

    /// <inheritdoc/>
    public string System => "zookeeper";

    /// <inheritdoc/>
    public string Configuration => $"ZooKeeper {(_server is null ? "at " + connectString : "(private, standalone, data in a temporary directory, forceSync=yes)")}; lock recipe from ZooKeeper's documentation through its Java client, one session for every caller";

    /// <inheritdoc/>
    public async Task SetupAsync(CancellationToken cancellationToken)
    {
        ZooKeeperServer.RequireJar();
        if (connectString is null)
        {
            _server = await ZooKeeperServer.StartAsync(cancellationToken);
            settings.Cpu?.Watch("zookeeper", _server.Pid, withDescendants: true);
        }
        else if (settings.Cpu is { } cpu && connectString.Split(':') is [var host, var port] && int.TryParse(port, CultureInfo.InvariantCulture, out var number))
        {
            CpuDiscovery.WatchListener(cpu, new ProcFs(), "zookeeper", host, number);
        }

        var driverSource = Path.Combine(AppContext.BaseDirectory, "Locks", "ZooKeeperLockDriver.java");
        var start = new ProcessStartInfo("java") { RedirectStandardInput = true };
        foreach (var argument in new[] { "-cp", ZooKeeperServer.Jar, driverSource, _server?.ConnectString ?? connectString! })
        {
            start.ArgumentList.Add(argument);
        }

        _driver = PeerProcess.Start("--peer zookeeper: lock driver (java)", start, directory: null, OnReply);
        settings.Cpu?.Watch("zookeeper client (java)", _driver.Pid, withDescendants: true);
        await _driver.WaitUntilAsync(_ => Task.FromResult(_ready.Task.IsCompleted), DriverStartTimeout, cancellationToken);
    }

    /// <inheritdoc/>
    public async Task ExecuteAsync(int caller, CancellationToken cancellationToken)
    {
        var requested = GrantLog.Now;
        var acquire = SendAsync('A', workload.NameFor(caller));
        string node;
        try
        {
            node = await acquire.WaitAsync(cancellationToken);
        }
        catch (OperationCanceledException)
        {
            // The window ended while this caller waited: release the node once the recipe grants it,
            // so no lock stays held into the next round.
            _ = acquire.ContinueWith(t => t.IsCompletedSuccessfully ? SendAsync('R', t.Result) : Task.CompletedTask, CancellationToken.None, TaskContinuationOptions.None, TaskScheduler.Default).Unwrap();
            throw;
        }

        Log.Record(caller, requested, GrantLog.Now, long.Parse(node.AsSpan(node.LastIndexOf('-') + 1), CultureInfo.InvariantCulture));
        await SendAsync('R', node);
    }

    /// <inheritdoc/>
    public async ValueTask DisposeAsync()
    {
        if (_driver is not null)
        {
            await _driver.DisposeAsync();
        }

        if (_server is not null)
        {
            await _server.DisposeAsync();
        }

        foreach (var pending in _pending.Values)
        {
            pending.TrySetCanceled();
        }
    }

    private Task<string> SendAsync(char verb, string argument)
    {
        var id = Interlocked.Increment(ref _nextId);
        var reply = new TaskCompletionSource<string>(TaskCreationOptions.RunContinuationsAsynchronously);
        _pending[id] = reply;
        lock (_inputLock)
        {
            _driver!.Input.Write(string.Create(CultureInfo.InvariantCulture, $"{verb} {id} {argument}\n"));
            _driver.Input.Flush();
        }

        return reply.Task;
    }

    private void OnReply(string line)
    {
        if (line == "READY")
        {
            _ready.TrySetResult();
            return;
        }

        var space = line.IndexOf(' ', StringComparison.Ordinal);
        if (space < 0 || !long.TryParse(line.AsSpan(0, space), CultureInfo.InvariantCulture, out var id) || !_pending.TryRemove(id, out var reply))
        {
            return;
        }

        var answer = line[(space + 1)..];
        if (answer.StartsWith("OK", StringComparison.Ordinal))
        {
            reply.TrySetResult(answer.Length > 3 ? answer[3..] : string.Empty);
        }
        else
        {
            reply.TrySetException(new InvalidOperationException("ZooKeeper lock driver: " + answer));
        }
    }
}
