using Orleans.Runtime;

namespace Granary.Resp;

/// <summary>Implements <see cref="IRespNodeDirectoryGrain"/> in memory: endpoints announce themselves again periodically.</summary>
[GrainType("granary.resp.node-directory")]
public sealed class RespNodeDirectoryGrain(IClusterMembershipService membership) : Grain, IRespNodeDirectoryGrain
{
    private readonly Dictionary<SiloAddress, RespNode> _nodes = [];

    /// <inheritdoc/>
    public Task AnnounceAsync(RespNode node)
    {
        ArgumentNullException.ThrowIfNull(node);
        _nodes[node.Silo] = node;
        return Task.CompletedTask;
    }

    /// <inheritdoc/>
    public Task WithdrawAsync(SiloAddress silo)
    {
        ArgumentNullException.ThrowIfNull(silo);
        _nodes.Remove(silo);
        return Task.CompletedTask;
    }

    /// <inheritdoc/>
    public Task<RespNode[]> ListAsync()
    {
        var snapshot = membership.CurrentSnapshot;
        foreach (var silo in _nodes.Keys.Where(s => snapshot.GetSiloStatus(s) is SiloStatus.ShuttingDown or SiloStatus.Stopping or SiloStatus.Dead).ToList())
        {
            _nodes.Remove(silo);
        }

        return Task.FromResult(_nodes.Values.Where(n => snapshot.GetSiloStatus(n.Silo) == SiloStatus.Active).ToArray());
    }
}
