using System.Globalization;
using System.Text;
using Granary.Caching;
using Granary.Client.Caching;
using Granary.Errors;
using Granary.Hashing;
using Granary.Resp;

namespace Granary.Server.Resp;

/// <summary>
/// Cluster mode's commands (<see cref="RespCluster"/>): <c>CLUSTER SLOTS|SHARDS|NODES|MYID|KEYSLOT|INFO</c>,
/// <c>READONLY</c> and <c>READWRITE</c>. Without <see cref="RespOptions.ClusterMode"/> they are refused as a
/// standalone Redis refuses them.
/// </summary>
internal sealed partial class RespConnection
{
    private async Task ClusterAsync(string[] args)
    {
        var cluster = _endpoint.Cluster;
        if (!cluster.Enabled)
        {
            Reply(CacheReply.Error(RespText.ClusterDisabled));
            return;
        }

        var name = args[0].ToUpperInvariant();
        if (name is "READONLY" or "READWRITE")
        {
            // Every node is a primary: reads from "replicas" are reads from the owner.
            Reply(args.Length == 1 ? CacheReply.Ok : CacheReply.Error(RedisText.Arity(name)));
            return;
        }

        if (args.Length < 2)
        {
            Reply(CacheReply.Error(RedisText.Arity("cluster")));
            return;
        }

        var sub = args[1].ToUpperInvariant();
        switch (sub)
        {
            case "MYID" when args.Length == 2:
                Reply(CacheReply.Bulk(cluster.NodeId));
                return;
            case "KEYSLOT" when args.Length == 3:
                Reply(CacheReply.Int(HashSlot.Of(args[2])));
                return;
            case "SLOTS" or "SHARDS" or "NODES" or "INFO" when args.Length == 2:
                break;
            case "MYID" or "KEYSLOT" or "SLOTS" or "SHARDS" or "NODES" or "INFO":
                Reply(CacheReply.Error($"ERR wrong number of arguments for 'cluster|{sub.ToLowerInvariant()}' command"));
                return;
            case "COUNTKEYSINSLOT" or "GETKEYSINSLOT" or "ADDSLOTS" or "ADDSLOTSRANGE" or "DELSLOTS" or "DELSLOTSRANGE" or "SETSLOT" or "MEET"
                or "FORGET" or "REPLICATE" or "FAILOVER" or "RESET" or "FLUSHSLOTS" or "SAVECONFIG" or "SET-CONFIG-EPOCH" or "BUMPEPOCH":
                Reply(CacheReply.Error(RespText.ClusterSubcommandNotSupported(sub)));
                return;
            default:
                Reply(CacheReply.Error(RespText.UnknownSubcommand(args[1], "CLUSTER")));
                return;
        }

        RespSlotMap map;
        try
        {
            map = await cluster.MapAsync(await _endpoint.CacheAsync(Database));
        }
        catch (Exception ex) when (ex is TimeoutException or OrleansException or GranaryException or InvalidOperationException)
        {
            Reply(CacheReply.Error($"ERR cluster map unavailable ({ex.GetType().Name}: {ex.Message})"));
            return;
        }

        switch (sub)
        {
            case "SLOTS":
                Reply(CacheReply.Array([.. map.Ranges.Select(r => CacheReply.Array([CacheReply.Int(r.Start), CacheReply.Int(r.End), NodeReply(r.Node)]))]));
                break;
            case "SHARDS":
                ClusterShards(map);
                break;
            case "NODES":
                Reply(CacheReply.Bulk(ClusterNodes(map, cluster.NodeId)));
                break;
            default:
                Reply(CacheReply.Bulk(ClusterInfo(map)));
                break;
        }
    }

    private static CacheReply NodeReply(RespNode node) =>
        CacheReply.Array([CacheReply.Bulk(node.Host), CacheReply.Int(node.Port), CacheReply.Bulk(node.NodeId), CacheReply.EmptyArray]);

    /// <summary>CLUSTER NODES: one line per node, as Redis writes its nodes.conf (each node its own config epoch).</summary>
    private static string ClusterNodes(RespSlotMap map, string myId)
    {
        var text = new StringBuilder();
        var epoch = 0;
        foreach (var (node, ranges) in map.Nodes)
        {
            epoch++;
            var flags = node.NodeId == myId ? "myself,master" : "master";
            text.Append(CultureInfo.InvariantCulture, $"{node.NodeId} {node.Host}:{node.Port}@0 {flags} - 0 0 {epoch} connected");
            if (ranges.Count > 0)
            {
                text.Append(' ').Append(RespSlotMap.Describe(ranges));
            }

            text.Append('\n');
        }

        return text.ToString();
    }

    private static string ClusterInfo(RespSlotMap map)
    {
        var nodes = map.Nodes.Count;
        var withSlots = map.Nodes.Count(n => n.Ranges.Count > 0);
        return string.Create(
            CultureInfo.InvariantCulture,
            $"cluster_state:ok\r\ncluster_slots_assigned:{HashSlot.Count}\r\ncluster_slots_ok:{HashSlot.Count}\r\ncluster_slots_pfail:0\r\ncluster_slots_fail:0\r\ncluster_known_nodes:{nodes}\r\ncluster_size:{withSlots}\r\ncluster_current_epoch:{nodes}\r\ncluster_my_epoch:0\r\ncluster_stats_messages_sent:0\r\ncluster_stats_messages_received:0\r\ntotal_cluster_links_buffer_limit_exceeded:0\r\n");
    }

    /// <summary>CLUSTER SHARDS: one shard per node (no replicas), its slots as start, end pairs; maps in RESP3.</summary>
    private void ClusterShards(RespSlotMap map)
    {
        RespWriter.Header(_output, (byte)'*', map.Nodes.Count);
        foreach (var (node, ranges) in map.Nodes)
        {
            MapHeader(2);
            RespWriter.Bulk(_output, "slots");
            Reply(CacheReply.Array([.. ranges.SelectMany(r => new[] { CacheReply.Int(r.Start), CacheReply.Int(r.End) })]));
            RespWriter.Bulk(_output, "nodes");
            RespWriter.Header(_output, (byte)'*', 1);
            MapHeader(7);
            Reply(CacheReply.Bulk("id"));
            Reply(CacheReply.Bulk(node.NodeId));
            Reply(CacheReply.Bulk("port"));
            Reply(CacheReply.Int(node.Port));
            Reply(CacheReply.Bulk("ip"));
            Reply(CacheReply.Bulk(node.Host));
            Reply(CacheReply.Bulk("endpoint"));
            Reply(CacheReply.Bulk(node.Host));
            Reply(CacheReply.Bulk("role"));
            Reply(CacheReply.Bulk("master"));
            Reply(CacheReply.Bulk("replication-offset"));
            Reply(CacheReply.Int(0));
            Reply(CacheReply.Bulk("health"));
            Reply(CacheReply.Bulk("online"));
        }
    }

    private void MapHeader(int pairs)
    {
        if (Protocol >= 3)
        {
            RespWriter.Header(_output, (byte)'%', pairs);
        }
        else
        {
            RespWriter.Header(_output, (byte)'*', 2L * pairs);
        }
    }
}
