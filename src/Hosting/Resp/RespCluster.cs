using System.Collections.Concurrent;
using System.Globalization;
using System.Net;
using System.Security.Cryptography;
using System.Text;
using Granary.Caching;
using Granary.Client.Caching;
using Granary.Errors;
using Granary.Hashing;
using Granary.Resp;
using Microsoft.Extensions.Logging;
using Microsoft.Extensions.Options;

namespace Granary.Server.Resp;

/// <summary>
/// Cluster mode of the RESP endpoint (<see cref="RespOptions.ClusterMode"/>): every silo's endpoint is a
/// Redis Cluster node (node id = SHA-1 of the silo address, so stable for the silo's life), and a hash slot
/// is served by the node of the silo where the activation of the shard grain owning that slot lives.
/// Clients that route by slot reach that silo directly; a command sent elsewhere is still answered (the
/// receiving silo calls the shard grain wherever it lives), so the map saves hops and never decides
/// correctness. The endpoints find each other through <see cref="IRespNodeDirectoryGrain"/>.
/// </summary>
internal sealed partial class RespCluster(
    IOptions<RespOptions> options,
    IGrainFactory grains,
    ILocalSiloDetails silo,
    ILogger<RespCluster> logger) : IAsyncDisposable
{
    /// <summary>How often an endpoint announces itself again (the directory keeps nothing on disk).</summary>
    internal static readonly TimeSpan AnnounceInterval = TimeSpan.FromSeconds(10);

    /// <summary>How long a computed slot map is reused (clients ask on connect and after errors).</summary>
    private static readonly TimeSpan MapLifetime = TimeSpan.FromSeconds(1);

    private readonly ConcurrentDictionary<string, (long Version, long ExpiresAt, Task<RespSlotMap> Map)> _maps = new(StringComparer.Ordinal);
    private readonly CancellationTokenSource _stopping = new();
    private int _disposed;
    private Task _announcing = Task.CompletedTask;
    private RespNode? _self;

    /// <summary>True when the endpoint answers as a Redis Cluster node.</summary>
    public bool Enabled { get; } = options.Value.ClusterMode;

    /// <summary>This silo's node id: 40 lowercase hex characters, the same in every silo's answers.</summary>
    public string NodeId { get; } = NodeIdOf(silo.SiloAddress);

    /// <summary>The node id of a silo.</summary>
    public static string NodeIdOf(SiloAddress address)
    {
        ArgumentNullException.ThrowIfNull(address);
        return Convert.ToHexStringLower(SHA1.HashData(Encoding.UTF8.GetBytes(address.ToParsableString())));
    }

    /// <summary>
    /// Announces this silo's endpoint, listening on <paramref name="local"/>, and keeps announcing it, in
    /// cluster mode or not: cluster mode draws its slot map from the directory, and <c>granary cluster
    /// status</c> and <c>granary demo</c> show the endpoints from it. Returns once the first announcement
    /// is in the directory (or has failed, which is logged; the next period tries again), so a silo that
    /// has started is listed.
    /// </summary>
    public async Task StartAsync(IPEndPoint local)
    {
        ArgumentNullException.ThrowIfNull(local);

        // A wildcard listener is announced with the silo's own address, the one other silos reach it by.
        var host = local.Address.Equals(IPAddress.Any) || local.Address.Equals(IPAddress.IPv6Any) ? silo.SiloAddress.Endpoint.Address : local.Address;
        var self = new RespNode(silo.SiloAddress, NodeId, host.ToString(), local.Port);
        _self = self;
        await AnnounceAsync(self);
        _announcing = AnnounceLoopAsync(self, _stopping.Token);
    }

    /// <summary>Stops announcing and withdraws this silo's endpoint from the directory.</summary>
    public async Task StopAsync()
    {
        await _stopping.CancelAsync();
        await _announcing;
        if (_self is not null)
        {
            try
            {
                await Directory.WithdrawAsync(_self.Silo).WaitAsync(TimeSpan.FromSeconds(5));
            }
            catch (Exception ex) when (ex is TimeoutException or OrleansException or OperationCanceledException)
            {
                // The directory drops silos that are no longer active anyway.
                LogAnnounceFailed(logger, ex);
            }
        }
    }

    /// <summary>The slot map of <paramref name="cache"/> as this silo sees it now (reused for a second).</summary>
    public Task<RespSlotMap> MapAsync(CacheClient cache)
    {
        ArgumentNullException.ThrowIfNull(cache);
        var definition = cache.Definition;
        var now = Environment.TickCount64;
        if (_maps.TryGetValue(definition.Name, out var known) && known.Version == definition.Version && known.ExpiresAt > now && !known.Map.IsFaulted)
        {
            return known.Map;
        }

        var map = BuildMapAsync(definition);
        _maps[definition.Name] = (definition.Version, now + (long)MapLifetime.TotalMilliseconds, map);
        return map;
    }

    /// <inheritdoc/>
    public async ValueTask DisposeAsync()
    {
        // The container disposes the instance once per registration that hands it out (the class and the
        // lifecycle participant): the second call has nothing left to do.
        if (Interlocked.Exchange(ref _disposed, 1) == 1)
        {
            return;
        }

        await _stopping.CancelAsync();
        await _announcing;
        _stopping.Dispose();
    }

    private IRespNodeDirectoryGrain Directory => grains.GetGrain<IRespNodeDirectoryGrain>(0);

    private async Task AnnounceLoopAsync(RespNode self, CancellationToken stopping)
    {
        using var timer = new PeriodicTimer(AnnounceInterval);
        while (await NextTickAsync(timer, stopping))
        {
            await AnnounceAsync(self);
        }
    }

    private async Task AnnounceAsync(RespNode self)
    {
        try
        {
            await Directory.AnnounceAsync(self).WaitAsync(AnnounceInterval);
        }
        catch (Exception ex) when (ex is TimeoutException or OrleansException or GranaryException)
        {
            LogAnnounceFailed(logger, ex);
        }
    }

    private static async Task<bool> NextTickAsync(PeriodicTimer timer, CancellationToken stopping)
    {
        try
        {
            return await timer.WaitForNextTickAsync(stopping);
        }
        catch (OperationCanceledException)
        {
            return false;
        }
    }

    private async Task<RespSlotMap> BuildMapAsync(CacheDefinition definition)
    {
        var listed = await Directory.ListAsync();
        var nodes = listed.Where(n => n.Silo != silo.SiloAddress).ToList();
        if (_self is not null)
        {
            nodes.Add(_self);
        }

        nodes.Sort((a, b) => string.CompareOrdinal(a.NodeId, b.NodeId));
        if (nodes.Count == 0)
        {
            throw new InvalidOperationException("no RESP endpoint has announced itself yet");
        }

        // A shard whose silo has no endpoint (or is not known yet) is given to the first node by id, so every
        // silo draws the same map; that node forwards its commands like any other.
        var bySilo = nodes.ToDictionary(n => n.Silo);
        var management = grains.GetGrain<IManagementGrain>(0);
        var shardNodes = new RespNode[definition.Shards];
        for (var shard = 0; shard < definition.Shards; shard++)
        {
            var grain = grains.GetGrain<ICacheShardGrain>(CacheDefinition.ShardKey(definition.Name, shard));
            var address = await management.GetActivationAddress(grain);
            if (address is null)
            {
                // Not active yet: activate it where Orleans places it, so the map names that silo.
                await grain.GetStatisticsAsync();
                address = await management.GetActivationAddress(grain);
            }

            shardNodes[shard] = address is not null && bySilo.TryGetValue(address, out var node) ? node : nodes[0];
        }

        var slotOwners = new RespNode[HashSlot.Count];
        var map = definition.BuildMap();
        for (var slot = 0; slot < HashSlot.Count; slot++)
        {
            // A cache that places whole keys spreads every slot over every shard: one node takes them all.
            slotOwners[slot] = map.Placement == CacheKeyPlacement.HashSlots ? shardNodes[map.ShardOfSlot(slot)] : nodes[0];
        }

        return RespSlotMap.Create(nodes, slotOwners);
    }

    [LoggerMessage(EventId = 2131, Level = LogLevel.Warning, Message = "RESP cluster mode: announcing or withdrawing this silo's endpoint failed (retried)")]
    private static partial void LogAnnounceFailed(ILogger logger, Exception exception);
}

/// <summary>Which node serves which hash slots: the nodes in node-id order, each with its slot ranges.</summary>
internal sealed class RespSlotMap
{
    private RespSlotMap(IReadOnlyList<(RespNode Node, IReadOnlyList<(int Start, int End)> Ranges)> nodes, IReadOnlyList<(int Start, int End, RespNode Node)> ranges)
    {
        Nodes = nodes;
        Ranges = ranges;
    }

    /// <summary>Every node (node-id order) with its slot ranges, inclusive.</summary>
    public IReadOnlyList<(RespNode Node, IReadOnlyList<(int Start, int End)> Ranges)> Nodes { get; }

    /// <summary>The runs of consecutive slots served by one node, in slot order.</summary>
    public IReadOnlyList<(int Start, int End, RespNode Node)> Ranges { get; }

    /// <summary>Merges runs of consecutive slots with the same owner.</summary>
    public static RespSlotMap Create(IReadOnlyList<RespNode> nodes, RespNode[] slotOwners)
    {
        var ranges = new List<(int Start, int End, RespNode Node)>();
        var start = 0;
        for (var slot = 1; slot <= slotOwners.Length; slot++)
        {
            if (slot == slotOwners.Length || !ReferenceEquals(slotOwners[slot], slotOwners[start]))
            {
                ranges.Add((start, slot - 1, slotOwners[start]));
                start = slot;
            }
        }

        var byNode = nodes
            .Select(n => (n, (IReadOnlyList<(int, int)>)[.. ranges.Where(r => ReferenceEquals(r.Node, n)).Select(r => (r.Start, r.End))]))
            .ToList();
        return new RespSlotMap(byNode, ranges);
    }

    /// <summary>A node's ranges as CLUSTER NODES writes them (<c>0-5460 5462</c>).</summary>
    public static string Describe(IEnumerable<(int Start, int End)> ranges) =>
        string.Join(' ', ranges.Select(r => r.Start == r.End
            ? r.Start.ToString(CultureInfo.InvariantCulture)
            : string.Create(CultureInfo.InvariantCulture, $"{r.Start}-{r.End}")));
}
