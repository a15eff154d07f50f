using dotnet_etcd;
using Etcdserverpb;
using Google.Protobuf;
using Granary.Bench.Cpu;
using Granary.Cli.Cli;
using Granary.Cli.Locks;
using V3Lockpb;

namespace Granary.Bench.Locks;

/// <summary>
/// etcd's lock service (v3 gRPC, through dotnet-etcd): every caller holds one lease, granted at
/// set-up, and each acquire puts a key under the lock's prefix with that lease and waits until every
/// key put before it is gone (FIFO by revision); release deletes the key. Every grant is a Raft
/// commit with the write-ahead log fsynced: a durable grant, like Granary's durable mode. Against a
/// private etcd the bench starts (<see cref="EtcdServer"/>) unless an endpoint is given. The leases
/// are granted before each of its windows and revoked after it (which deletes any key still in a
/// lock's queue), so nothing of one window, neither a key nor a lease near its end, reaches the next.
/// </summary>
public sealed class EtcdLockBenchTarget(LockWorkload workload, string? endpoint, BenchSettings settings) : IBackgroundBenchTarget
{
    // How long a release or a lease replacement at the end of a window may take.
    private static readonly TimeSpan ReleaseBound = TimeSpan.FromSeconds(10);

    private EtcdServer? _server;
    private EtcdClient? _client;
    private readonly TimeSpan _leaseTtl = LeaseTtlFor(settings);
    private long[] _leases = [];

    /// <summary>Grants as the callers saw them.</summary>
    public GrantLog Log { get; } = new();

    /// <inheritdoc/>
    public string System => "etcd";

    /// <inheritdoc/>
    public string Configuration => $"etcd {(_server is null ? "at " + endpoint : "(private, one member, data in a temporary directory)")} lock API via dotnet-etcd, one gRPC client, one lease per caller granted before each window (ttl {_leaseTtl.TotalSeconds:F0} s, no keep-alive inside it), Lock + Unlock per pair";

    /// <summary>Keys found in the locks' queues after a window, before its leases were revoked (a caller's key the window's end left behind).</summary>
    public int LeftoverKeys { get; private set; }

    /// <summary>A lease ttl that outlasts every round's warm-up and window, with a minute to spare: no keep-alive traffic inside a window.</summary>
    public static TimeSpan LeaseTtlFor(BenchSettings settings)
    {
        ArgumentNullException.ThrowIfNull(settings);
        return settings.RoundsSpan + TimeSpan.FromMinutes(1);
    }

    /// <summary>The endpoint in use (after set-up).</summary>
    public string? Endpoint => _server?.Endpoint ?? endpoint;

    /// <inheritdoc/>
    public async Task SetupAsync(CancellationToken cancellationToken)
    {
        if (endpoint is null)
        {
            _server = await EtcdServer.StartAsync(cancellationToken);
            settings.Cpu?.Watch("etcd", _server.Pid, withDescendants: true);
        }
        else if (settings.Cpu is { } cpu && Uri.TryCreate(endpoint, UriKind.Absolute, out var uri))
        {
            CpuDiscovery.WatchListener(cpu, new ProcFs(), "etcd", uri.Host, uri.Port);
        }

        _client = new EtcdClient(Endpoint!);
        await StartBackgroundAsync(cancellationToken);
    }

    /// <summary>Before each window: one fresh lease per caller.</summary>
    public async Task StartBackgroundAsync(CancellationToken cancellationToken) =>
        _leases = await Task.WhenAll(Enumerable.Range(0, settings.Concurrency).Select(_ => GrantLeaseAsync(cancellationToken)));

    /// <summary>
    /// After each window: counts the keys still queued on the locks (<see cref="LeftoverKeys"/>), then
    /// revokes every caller's lease, which deletes its keys, and checks that the queues are empty.
    /// </summary>
    public async Task StopBackgroundAsync(CancellationToken cancellationToken)
    {
        var prefixes = Enumerable.Range(0, settings.Concurrency).Select(c => workload.NameFor(c) + "/").Distinct().ToList();
        var left = await CountQueuedAsync(prefixes, cancellationToken);
        LeftoverKeys += left;
        if (left > 0)
        {
            Output.Progress($"etcd: {left} key(s) left in the locks' queues after the window; revoking their leases");
        }

        await Task.WhenAll(_leases.Select(id => _client!.LeaseRevokeAsync(new LeaseRevokeRequest { ID = id }, cancellationToken: cancellationToken)));
        _leases = [];
        if (await CountQueuedAsync(prefixes, cancellationToken) is var still and > 0)
        {
            throw new InvalidOperationException($"etcd: {still} key(s) still queued on the locks after their leases were revoked");
        }
    }

    private async Task<int> CountQueuedAsync(IEnumerable<string> prefixes, CancellationToken cancellationToken)
    {
        var total = 0L;
        foreach (var prefix in prefixes)
        {
            var range = await _client!.GetRangeAsync(prefix, cancellationToken: cancellationToken);
            total += range.Count;
        }

        return (int)total;
    }

    /// <inheritdoc/>
    public async Task ExecuteAsync(int caller, CancellationToken cancellationToken)
    {
        var requested = GrantLog.Now;

        // The lock call is not cancelled when the window ends: an etcd that saw many of its lock calls
        // cancelled stopped granting in the next window (every call of that window waited, none put
        // its key). A caller still waiting then revokes its own lease instead, which deletes its
        // key, so etcd answers the call; the caller then takes a new lease.
        var pending = AcquireAsync(caller, CancellationToken.None);
        ByteString key;
        try
        {
            key = await pending.WaitAsync(cancellationToken);
        }
        catch (OperationCanceledException) when (cancellationToken.IsCancellationRequested)
        {
            using var revokeBound = new CancellationTokenSource(ReleaseBound);
            await _client!.LeaseRevokeAsync(new LeaseRevokeRequest { ID = _leases[caller] }, cancellationToken: revokeBound.Token);
            await pending.WaitAsync(revokeBound.Token).ContinueWith(t => t.Exception, TaskScheduler.Default);
            _leases[caller] = await GrantLeaseAsync(revokeBound.Token);
            throw;
        }

        Log.Record(caller, requested, GrantLog.Now, null);

        // Released even when the window ends now: a lock held by a caller must not outlive its round.
        using var bound = new CancellationTokenSource(ReleaseBound);
        await ReleaseAsync(key, bound.Token);
    }

    private async Task<long> GrantLeaseAsync(CancellationToken cancellationToken) =>
        (await _client!.LeaseGrantAsync(new LeaseGrantRequest { TTL = (long)Math.Ceiling(_leaseTtl.TotalSeconds) }, cancellationToken: cancellationToken)).ID;

    /// <summary>Waits until caller <paramref name="caller"/> holds its lock; returns the key that <see cref="ReleaseAsync"/> deletes.</summary>
    public async Task<ByteString> AcquireAsync(int caller, CancellationToken cancellationToken)
    {
        var held = await _client!.LockAsync(new LockRequest { Name = ByteString.CopyFromUtf8(workload.NameFor(caller)), Lease = _leases[caller] }, cancellationToken: cancellationToken);
        return held.Key;
    }

    /// <summary>Releases a lock <see cref="AcquireAsync"/> returned (the next waiter, by revision, gets it).</summary>
    public async Task ReleaseAsync(ByteString key, CancellationToken cancellationToken) =>
        await _client!.UnlockAsync(new UnlockRequest { Key = key }, cancellationToken: cancellationToken);

    /// <inheritdoc/>
    public async ValueTask DisposeAsync()
    {
        _client?.Dispose();
        if (_server is not null)
        {
            await _server.DisposeAsync();
        }
    }
}
