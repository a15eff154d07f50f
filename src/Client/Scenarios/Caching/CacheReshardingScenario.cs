using System.Globalization;
using Granary.Caching;
using Granary.Client.Caching;
using StableHash = Granary.Hashing.StableHash;

namespace Granary.Cli.Scenarios.Caching;

/// <summary><c>cache-resharding</c>: growing a cache from 4 to 5 shards moves about a fifth of the keys, not four fifths.</summary>
public sealed class CacheReshardingScenario : IScenario
{
    private const int Keys = 20_000;

    /// <inheritdoc/>
    public string Name => "cache-resharding";

    /// <inheritdoc/>
    public string Title => "Resharding a live cache moves only the keys whose shard changed (consistent hashing vs modulo)";

    /// <inheritdoc/>
    public async Task<bool> RunAsync(ScenarioContext context, CancellationToken cancellationToken)
    {
        ArgumentNullException.ThrowIfNull(context);
        var name = "reshard-" + Guid.NewGuid().ToString("N")[..8];
        var definition = context.Grains.GetGrain<ICacheDefinitionGrain>(name);
        await definition.ReshardAsync(4);
        await using var cache = await CacheClient.ConnectAsync(context.Grains, name);
        await Task.WhenAll(Enumerable.Range(0, Keys).Select(i => cache.ExecuteAsync(["SET", Key(i), "v" + i.ToString(CultureInfo.InvariantCulture)])));
        context.Say($"cache '{name}': {Keys:N0} keys on {cache.Definition.Shards} shards");

        var result = await definition.ReshardAsync(5);
        var fraction = result.KeysMoved / (double)result.KeysBefore;
        var modulo = Enumerable.Range(0, Keys).Count(i => StableHash.Hash64(Key(i)) % 4 != StableHash.Hash64(Key(i)) % 5) / (double)Keys;
        context.Check("keysMoved", result.KeysMoved, fraction <= result.IdealFraction * 1.3,
            $"4 -> 5 shards: moved {result.KeysMoved:N0} of {result.KeysBefore:N0} keys ({fraction:P1}); ideal {result.IdealFraction:P1} (1/5); ratio to ideal {fraction / result.IdealFraction:F2} (at most 1.30)");
        context.Fact("idealFraction", result.IdealFraction, $"hash mod N would have moved {modulo:P1} of the keys");

        var reads = await Task.WhenAll(Enumerable.Range(0, Keys).Select(i => cache.ExecuteAsync(["GET", Key(i)])));
        var lost = Enumerable.Range(0, Keys).Count(i => reads[i].Text != "v" + i.ToString(CultureInfo.InvariantCulture));
        context.Check("lost", lost, lost == 0, $"after the reshard the client followed ring version {cache.Definition.Version}: {Keys - lost:N0} of {Keys:N0} keys read back, {lost} lost");
        return context.AllHeld;
    }

    private static string Key(int i) => "product:" + i.ToString(CultureInfo.InvariantCulture);
}
