using dotnet_etcd;
using Etcdserverpb;
using Google.Protobuf;
using Granary.Bench.Cpu;
using Granary.Cli.Locks;
using V3Lockpb;

namespace Granary.Bench.Locks;

/// <summary>
/// etcd's lock service (v3 gRPC, through dotnet-etcd): every caller holds one lease, granted at
/// set-up, and each acquire puts a key under the lock's prefix with that lease and waits until every
/// key put before it is gone (FIFO by revision); release deletes the key. Every grant is a Raft
/// commit with the write-ahead log fsynced: a durable grant, like Granary's durable mode. Against a
/// private etcd the bench starts (<see cref="EtcdServer"/>) unless an endpoint is given.
/// </summary>
public sealed class EtcdLockBenchTarget(LockWorkload workload, string? endpoint, BenchSettings settings) : IBenchTarget
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
    public string Configuration => $"etcd {(_server is null ? "at " + endpoint : "(private, one member, data in a temporary directory)")} lock API via dotnet-etcd, one gRPC client, one lease per caller (ttl {_leaseTtl.TotalSeconds:F0} s, covers the run), Lock + Unlock per pair";

    /// <summary>A lease ttl that outlasts every round's warm-up and window, with a minute to spare: no keep-alive traffic inside a window.</summary>
    public static TimeSpan LeaseTtlFor(BenchSettings settings)
    {
        ArgumentNullException.ThrowIfNull(settings);
        return ((settings.Warmup + settings.Duration) * settings.Rounds) + TimeSpan.FromMinutes(1);
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
        _leases = await Task.WhenAll(Enumerable.Range(0, settings.Concurrency).Select(_ => GrantLeaseAsync(cancellationToken)));
    }

    /// <inheritdoc/>
    public async Task ExecuteAsync(int caller, CancellationToken cancellationToken)
    {
        var requested = GrantLog.Now;
        ByteString key;
        try
        {
            key = await AcquireAsync(caller, cancellationToken);
        }
        catch (Exception) when (cancellationToken.IsCancellationRequested)
        {
            // The window ended while this caller waited. Its key stays in the lock's queue (or is
            // granted after the call was given up) and would hold the lock into the next round, so
            // every caller of the next round would wait behind it for the lease's whole ttl.
            // Revoking the caller's lease deletes every key put with it; the caller takes a new one.
            await ReplaceLeaseAsync(caller);
            throw;
        }

        Log.Record(caller, requested, GrantLog.Now, null);

        // Released even when the window ends now: a lock held by a caller must not outlive its round.
        using var bound = new CancellationTokenSource(ReleaseBound);
        await ReleaseAsync(key, bound.Token);
    }

    private async Task ReplaceLeaseAsync(int caller)
    {
        using var bound = new CancellationTokenSource(ReleaseBound);
        await _client!.LeaseRevokeAsync(new LeaseRevokeRequest { ID = _leases[caller] }, cancellationToken: bound.Token);
        _leases[caller] = await GrantLeaseAsync(bound.Token);
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
