using System.CommandLine;
using System.Globalization;
using Granary.Cli.Cli;
using Granary.Server.Configuration;
using Granary.Server.Options;
using Granary.Server.Storage;
using Microsoft.Extensions.Configuration;

namespace Granary.Cli.Commands;

/// <summary><c>granary shards ...</c>: the PostgreSQL shards that hold grain state.</summary>
public static class ShardsCommands
{
    /// <summary>Builds the command tree.</summary>
    public static Command Create()
    {
        var status = new Command("status", "Stored grain states per shard (reads the shard databases directly)");
        status.SetHandler(async (parse, output, ct) =>
        {
            var (options, serviceId) = LoadShards();
            var reports = await ShardInspector.CountAsync(options.Shards, serviceId, ct);
            var total = reports.Sum(r => r.Rows);
            output.Document(new { ServiceId = serviceId, TotalRows = total, Shards = reports });
            output.Line(string.Create(CultureInfo.InvariantCulture, $"{reports.Count} shard(s), {total:N0} stored grain state(s) for service '{serviceId}'"));
            output.Table(
                ["SHARD", "DATABASE", "ENDPOINT", "ROWS", "SHARE", "BY STATE"],
                reports.Select(r => (IReadOnlyList<string>)
                [
                    r.Shard,
                    r.Database,
                    string.Create(CultureInfo.InvariantCulture, $"{r.Host}:{r.Port}"),
                    r.Error is null ? r.Rows.ToString("N0", CultureInfo.InvariantCulture) : "error",
                    total == 0 ? "-" : ((double)r.Rows / total).ToString("P1", CultureInfo.InvariantCulture),
                    r.Error ?? string.Join(", ", r.ByState.Select(s => $"{s.StateName}={s.Rows}")),
                ]));
            return reports.Any(r => r.Error is not null) ? ExitCodes.Failure : ExitCodes.Ok;
        });

        var rebalance = new Command("rebalance", "After appending shards to Granary:Storage:Shards, move the states whose owner changed (run with silos stopped)");
        rebalance.SetHandler(async (parse, output, ct) =>
        {
            var (options, serviceId) = LoadShards();
            await PostgresShardInitializer.EnsureShardsAsync(options.Shards, options.CreateDatabases, Microsoft.Extensions.Logging.Abstractions.NullLogger.Instance, ct);
            var report = await ShardRebalancer.RebalanceAsync(options.Shards, options.VirtualNodesPerShard, serviceId, ct);
            output.Document(report);
            output.Line(string.Create(CultureInfo.InvariantCulture, $"scanned {report.RowsScanned:N0} state(s), moved {report.RowsMoved:N0} ({report.MovedFraction:P1}); ideal for the last shard added: {1.0 / options.Shards.Length:P1}"));
            foreach (var (shard, count) in report.MovedTo.OrderBy(kv => kv.Key, StringComparer.Ordinal))
            {
                output.Line(string.Create(CultureInfo.InvariantCulture, $"  -> {shard}: {count:N0}"));
            }

            return ExitCodes.Ok;
        });

        return new Command("shards", "PostgreSQL storage shards") { status, rebalance };
    }

    private static (GranaryStorageOptions Options, string ServiceId) LoadShards()
    {
        var configuration = GranaryConfiguration.Build();
        var options = new GranaryStorageOptions();
        configuration.GetSection(GranaryStorageOptions.SectionName).Bind(options);
        if (options.Mode != StorageMode.PostgresShards || options.Shards.Length == 0)
        {
            throw new ClusterUnavailableException(
                "no PostgreSQL shards are configured (Granary:Storage:Mode is " + options.Mode + "). Start a local cluster with scripts/cluster.sh up, or set Granary:Storage:Shards.",
                new InvalidOperationException("no shards"));
        }

        var result = new GranaryStorageOptionsValidator().Validate(null, options);
        if (result.Failed)
        {
            throw new UsageException(result.FailureMessage);
        }

        return (options, configuration["Orleans:ServiceId"] ?? "granary");
    }
}
