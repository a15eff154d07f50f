using System.Text.Json;
using Granary.Grocery;
using Microsoft.Extensions.Caching.Distributed;
using Microsoft.Extensions.Options;

namespace Granary.Grocery.Api;

/// <summary>
/// The catalogue through <see cref="IDistributedCache"/> (a Granary cache): read from the cache, or on
/// a miss built from the seed (<c>Grocery:Items</c>) and stored for <c>Grocery:CatalogueTtl</c>.
/// Every API process shares the one cached copy.
/// </summary>
public sealed class CatalogueReader(IDistributedCache cache, IOptions<GroceryOptions> options, TimeProvider time, ILogger<CatalogueReader> logger)
{
    /// <summary>The cache key of the catalogue.</summary>
    public const string Key = "catalogue";

    /// <summary>Response header saying where the catalogue came from: <c>cache</c> or <c>seed</c>.</summary>
    public const string SourceHeader = "X-Catalogue-Source";

    /// <summary>The catalogue, and whether it came from the cache.</summary>
    public async Task<(Catalogue Catalogue, bool FromCache)> GetAsync(CancellationToken cancellationToken)
    {
        var cached = await cache.GetAsync(Key, cancellationToken);
        if (cached is not null)
        {
            return (JsonSerializer.Deserialize(cached, GroceryJsonContext.Default.Catalogue)!, true);
        }

        var settings = options.Value;
        var catalogue = new Catalogue([.. settings.Items.Select(i => new CatalogueItem(i.Sku, i.Name, i.Price))], time.GetUtcNow());
        await cache.SetAsync(
            Key,
            JsonSerializer.SerializeToUtf8Bytes(catalogue, GroceryJsonContext.Default.Catalogue),
            new DistributedCacheEntryOptions { AbsoluteExpirationRelativeToNow = settings.CatalogueTtl },
            cancellationToken);
        GroceryApiLog.CatalogueLoaded(logger, catalogue.Items.Count, settings.CatalogueTtl);
        return (catalogue, false);
    }
}
