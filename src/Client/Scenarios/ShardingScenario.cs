using System.Globalization;
using Granary.Documents;
using Granary.Server.Options;
using Granary.Server.Storage;
using Microsoft.Extensions.Configuration;

namespace Granary.Cli.Scenarios;

/// <summary>
/// Seed questions 10-13 (sharding, consistent hashing for placement): how grain state spreads over
/// the SQL shards and how much has to move when a shard is added, against <c>hash mod n</c>.
/// </summary>
public sealed class ShardingScenario : IScenario
{
    private const int Keys = 20_000;
    private const int Documents = 300;

    /// <inheritdoc/>
    public string Name => "sharding";

    /// <inheritdoc/>
    public string Title => "Grain state spread over SQL shards by the ring, and what moves when a shard is added";

    /// <inheritdoc/>
    public async Task<bool> RunAsync(ScenarioContext context, CancellationToken cancellationToken)
    {
        ArgumentNullException.ThrowIfNull(context);
        // 1. Placement: the same router the silo's sharded storage uses.
        var three = new ShardRouter(3);
        var four = new ShardRouter(4);
        var counts = new Dictionary<string, int>(StringComparer.Ordinal);
        int ringMoved = 0, ringMovedToOld = 0, moduloMoved = 0;
        for (var i = 0; i < Keys; i++)
        {
            var key = new ShardKey(0, 0, string.Create(CultureInfo.InvariantCulture, $"customer-{i}"));
            var before = three.ShardFor(key);
            var after = four.ShardFor(key);
            counts[before] = counts.GetValueOrDefault(before) + 1;
            if (!string.Equals(before, after, StringComparison.Ordinal))
            {
                ringMoved++;
                ringMovedToOld += string.Equals(after, StorageNames.Shard(3), StringComparison.Ordinal) ? 0 : 1;
            }

            var h = Granary.Hashing.StableHash.Hash64(key.RoutingString());
            moduloMoved += h % 3 != h % 4 ? 1 : 0;
        }

        context.Say(string.Create(CultureInfo.InvariantCulture, $"{Keys:N0} grain keys over 3 shards (160 virtual nodes each):"));
        foreach (var (shard, count) in counts.OrderBy(kv => kv.Key, StringComparer.Ordinal))
        {
            context.Say(string.Create(CultureInfo.InvariantCulture, $"  {shard}: {count,6:N0} ({(double)count / Keys:P1})"));
        }

        var peak = counts.Values.Max() / (Keys / 3.0);
        context.Check("peakToMean", peak, peak < 1.2, string.Create(CultureInfo.InvariantCulture, $"peak-to-mean {peak:F3} (under 1.2)"));
        var moved = (double)ringMoved / Keys;
        context.Check("movedOnAddShard", moved, ringMovedToOld == 0 && moved < 0.25 * 1.3,
            string.Create(CultureInfo.InvariantCulture, $"add shard-3: ring moves {moved:P1} of keys (ideal 1/4 = 25.0%, allowed up to 32.5%), all of them to the new shard ({ringMovedToOld} elsewhere)"));
        var modulo = (double)moduloMoved / Keys;
        context.Check("moduloMovedOnAddShard", modulo, modulo > 0.7,
            string.Create(CultureInfo.InvariantCulture, $"hash mod n would move {modulo:P1} of keys (3 -> 4 shards): most of the database"));

        // 2. Real grains write real state through the sharded storage provider.
        var stamp = DateTime.UtcNow.Ticks.ToString(CultureInfo.InvariantCulture);
        var writes = Enumerable.Range(0, Documents)
            .Select(i => context.Grains.GetGrain<IDocumentGrain>($"sharding-{stamp}-{i}").PutAsync("v" + i.ToString(CultureInfo.InvariantCulture)));
        var snapshots = await Task.WhenAll(writes);
        var durable = snapshots.All(s => s.Version == 1);
        context.Check("documentsWritten", Documents, durable,
            $"wrote {Documents} document grains through the '{GranaryStorage.Default}' storage provider: {snapshots.Count(s => s.Version == 1)} acknowledged at version 1");

        var storage = new GranaryStorageOptions();
        context.Connection.Configuration.GetSection(GranaryStorageOptions.SectionName).Bind(storage);
        if (context.Connection.Embedded || storage.Mode != StorageMode.PostgresShards)
        {
            context.Say("storage is in memory here (embedded mode); run a local cluster (scripts/cluster.sh up) and");
            context.Say("'granary scenario sharding --cluster' to see rows per PostgreSQL database, then 'granary shards status'.");
            return context.AllHeld;
        }

        var serviceId = context.Connection.Configuration["Orleans:ServiceId"] ?? "granary";
        var reports = await ShardInspector.CountAsync(storage.Shards, serviceId, cancellationToken);
        context.Say("rows per PostgreSQL shard (all grain states of this service):");
        foreach (var r in reports)
        {
            context.Check(r.Error is null, string.Create(CultureInfo.InvariantCulture, $"  {r.Shard} ({r.Database}): {r.Rows:N0}{(r.Error is null ? string.Empty : " error: " + r.Error)}"));
        }

        return context.AllHeld;
    }
}
