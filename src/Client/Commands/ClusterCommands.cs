using System.CommandLine;
using System.Globalization;
using Granary.Cli.Cli;
using Orleans.Runtime;

namespace Granary.Cli.Commands;

/// <summary><c>granary cluster ...</c>: membership.</summary>
public static class ClusterCommands
{
    /// <summary>Builds the command tree.</summary>
    public static Command Create()
    {
        var all = new Option<bool>("--all") { Description = "Also list silos that are dead or shutting down" };
        var status = new Command("status", "Silos in the cluster and their status") { all };
        status.SetHandler(async (parse, output, ct) =>
        {
            await using var connection = await GlobalOptions.ConnectAsync(parse, ct);
            var management = connection.Grains.GetGrain<IManagementGrain>(0);
            var hosts = await management.GetDetailedHosts(onlyActive: false);
            var resp = await RespEndpoints.ListAsync(connection.Grains);
            var showAll = parse.GetValue(all);
            var silos = hosts
                .Where(h => showAll || h.Status is SiloStatus.Active or SiloStatus.Joining or SiloStatus.Created)
                .OrderBy(h => h.SiloAddress.ToString(), StringComparer.Ordinal)
                .Select(h => new
                {
                    Address = h.SiloAddress.ToParsableString(),
                    Name = h.SiloName,
                    Status = h.Status.ToString(),
                    GatewayPort = h.ProxyPort,
                    Resp = resp.TryGetValue(h.SiloAddress, out var node) ? $"{node.Host}:{node.Port.ToString(CultureInfo.InvariantCulture)}" : null,
                    StartedAt = h.StartTime,
                    LastAlive = h.IAmAliveTime,
                })
                .ToList();
            var active = hosts.Count(h => h.Status == SiloStatus.Active);
            var clusterId = connection.Configuration["Orleans:ClusterId"];
            output.Document(new { ClusterId = clusterId, connection.Embedded, ActiveSilos = active, Silos = silos });
            output.Line(string.Create(CultureInfo.InvariantCulture, $"cluster '{clusterId}'{(connection.Embedded ? " (embedded)" : string.Empty)}: {active} active silo(s)"));
            output.Table(
                ["ADDRESS", "NAME", "STATUS", "GATEWAY", "RESP", "STARTED (UTC)"],
                silos.Select(s => (IReadOnlyList<string>)[s.Address, s.Name ?? "-", s.Status, s.GatewayPort.ToString(CultureInfo.InvariantCulture), s.Resp ?? "-", s.StartedAt.ToString("u", CultureInfo.InvariantCulture)]));
            return active > 0 ? ExitCodes.Ok : ExitCodes.Failure;
        });

        return new Command("cluster", "Cluster membership") { status };
    }
}
