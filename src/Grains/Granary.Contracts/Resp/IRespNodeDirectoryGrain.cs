using Granary.Security;

namespace Granary.Resp;

/// <summary>
/// Where each silo's RESP endpoint listens (one directory per cluster, key 0), so that any silo can describe
/// the whole cluster to cluster-aware Redis clients (<c>CLUSTER SLOTS</c>/<c>SHARDS</c>/<c>NODES</c>). Endpoints
/// announce themselves when they start and again periodically (the directory keeps nothing on disk, so a
/// re-activated directory is complete again within one period), and withdraw when they stop; entries of
/// silos that are no longer active are dropped.
/// </summary>
/// <example><code>
/// var nodes = await grains.GetGrain&lt;IRespNodeDirectoryGrain&gt;(0).ListAsync();
/// </code></example>
[Requires(Permission.Internal)]
[Alias("granary.resp.node-directory")]
public interface IRespNodeDirectoryGrain : IGrainWithIntegerKey
{
    /// <summary>Adds or refreshes one silo's endpoint.</summary>
    [Alias("announce")]
    Task AnnounceAsync(RespNode node);

    /// <summary>Removes the endpoint of <paramref name="silo"/> (it is stopping).</summary>
    [Alias("withdraw")]
    Task WithdrawAsync(SiloAddress silo);

    /// <summary>The endpoints of the silos that are active now.</summary>
    [Requires(Permission.ClusterRead)]
    [Alias("list")]
    Task<RespNode[]> ListAsync();
}

/// <summary>One silo's RESP endpoint: its node id (40 hex characters, stable for the silo's life), address and port.</summary>
[GenerateSerializer, Alias("granary.resp.node")]
public sealed record RespNode(
    [property: Id(0)] SiloAddress Silo,
    [property: Id(1)] string NodeId,
    [property: Id(2)] string Host,
    [property: Id(3)] int Port);
