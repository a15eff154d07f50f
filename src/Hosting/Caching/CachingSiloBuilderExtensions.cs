using Granary.Caching;
using Granary.Client;
using Granary.Client.Configuration;
using Granary.Server.Options;
using Granary.Server.Storage;
using Microsoft.Extensions.Configuration;
using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.DependencyInjection.Extensions;
using Microsoft.Extensions.Options;
using Orleans.Configuration;

namespace Granary.Server.Caching;

/// <summary>Registers the cache shards' silo-side settings.</summary>
public static class CachingSiloBuilderExtensions
{
    /// <summary>
    /// Binds and validates <see cref="CacheShardOptions"/> from <c>Granary:Caching</c> and registers the
    /// row store of persistent caches: PostgreSQL shards (a table of the cache family in each) when grain
    /// storage uses them or <c>Store</c> says so, otherwise process memory.
    /// </summary>
    public static ISiloBuilder AddGranaryCaching(this ISiloBuilder silo, IConfiguration configuration)
    {
        ArgumentNullException.ThrowIfNull(silo);
        ArgumentNullException.ThrowIfNull(configuration);
        if (!silo.Services.AddOnce(nameof(AddGranaryCaching)))
        {
            return silo;
        }

        var options = ValidatedOptions.Bind<CacheShardOptions, CacheShardOptionsValidator>(silo.Services, configuration, CacheShardOptions.SectionName);
        silo.Services.AddSingleton<CacheMetrics>();
        silo.Services.TryAddSingleton<LocalCacheShards>();
        silo.Services.TryAddSingleton<ILocalCacheShards>(sp => sp.GetRequiredService<LocalCacheShards>());
        silo.Services.AddPlacementDirector<SpreadShardsPlacement, SpreadShardsPlacementDirector>();
        var storage = new GranaryStorageOptions();
        configuration.GetSection(GranaryStorageOptions.SectionName).Bind(storage);
        var usePostgres = options.Store == CacheStoreMode.Postgres
            || (options.Store == CacheStoreMode.Auto && storage.Mode == StorageMode.PostgresShards);
        if (usePostgres && storage.Shards.Length == 0)
        {
            throw new OptionsValidationException(CacheShardOptions.SectionName, typeof(CacheShardOptions), [$"{CacheShardOptions.SectionName}:Store is Postgres but {GranaryStorageOptions.SectionName}:Shards is empty."]);
        }

        if (usePostgres)
        {
            silo.Services.TryAddSingleton<ICacheShardStore>(sp => new PostgresCacheShardStore(
                storage.Shards,
                storage.VirtualNodesPerShard,
                sp.GetRequiredService<IOptions<ClusterOptions>>().Value.ServiceId,
                sp.GetService<StorageRetryPolicy>()));
        }
        else
        {
            silo.Services.TryAddSingleton<ICacheShardStore, MemoryCacheShardStore>();
        }

        if (string.IsNullOrWhiteSpace(options.BackingConnectionString))
        {
            silo.Services.TryAddSingleton<ICacheBackingStore>(MemoryCacheBackingStore.Shared);
        }
        else
        {
            silo.Services.TryAddSingleton<ICacheBackingStore>(sp => new PostgresCacheBackingStore(options.BackingConnectionString, sp.GetService<StorageRetryPolicy>()));
        }

        return silo;
    }
}

/// <summary>Fails start-up with one clear message per mistake in <c>Granary:Caching</c>.</summary>
public sealed class CacheShardOptionsValidator : IValidateOptions<CacheShardOptions>
{
    // 1 TiB per shard: beyond any machine this runs on, small enough that sums over shards cannot overflow.
    private const long MaxMemoryCeiling = 1L << 40;

    /// <inheritdoc/>
    public ValidateOptionsResult Validate(string? name, CacheShardOptions options)
    {
        ArgumentNullException.ThrowIfNull(options);
        var s = CacheShardOptions.SectionName;
        var errors = new List<string>();
        if (options.MaxShards < 1 || options.MaxShards > Limits.Caching.MaxConfigurableShards)
        {
            errors.Add($"{s}:MaxShards must be between 1 and {Limits.Caching.MaxConfigurableShards} (got {options.MaxShards}).");
        }

        if (options.DefaultShards < 1 || options.DefaultShards > options.MaxShards)
        {
            errors.Add($"{s}:DefaultShards must be between 1 and MaxShards (got {options.DefaultShards}).");
        }

        if (options.VirtualNodesPerShard < 1 || options.VirtualNodesPerShard > Hashing.ConsistentHashRing.MaxVirtualNodesPerWeight)
        {
            errors.Add($"{s}:VirtualNodesPerShard must be between 1 and {Hashing.ConsistentHashRing.MaxVirtualNodesPerWeight} (got {options.VirtualNodesPerShard}).");
        }

        if (options.MemoryCeilingBytesPerShard < 1 || options.MemoryCeilingBytesPerShard > MaxMemoryCeiling)
        {
            errors.Add($"{s}:MemoryCeilingBytesPerShard must be between 1 and {MaxMemoryCeiling} (got {options.MemoryCeilingBytesPerShard}).");
        }

        if (options.MaxMemoryBytesPerShard < 1 || options.MaxMemoryBytesPerShard > options.MemoryCeilingBytesPerShard)
        {
            errors.Add($"{s}:MaxMemoryBytesPerShard must be between 1 and MemoryCeilingBytesPerShard ({options.MemoryCeilingBytesPerShard}); a cache is never unbounded (got {options.MaxMemoryBytesPerShard}).");
        }

        if (options.SnapshotInterval < TimeSpan.FromMilliseconds(10) || options.SnapshotInterval > TimeSpan.FromHours(1))
        {
            errors.Add($"{s}:SnapshotInterval must be between 10 ms and 1 hour (got {options.SnapshotInterval}).");
        }

        if (options.ReadThroughTtl < TimeSpan.FromMilliseconds(1) || options.ReadThroughTtl > TimeSpan.FromDays(30))
        {
            errors.Add($"{s}:ReadThroughTtl must be between 1 ms and 30 days (got {options.ReadThroughTtl}).");
        }

        if (options.WriteBehindDelay < TimeSpan.FromMilliseconds(1) || options.WriteBehindDelay > TimeSpan.FromHours(1))
        {
            errors.Add($"{s}:WriteBehindDelay must be between 1 ms and 1 hour (got {options.WriteBehindDelay}).");
        }

        if (options.WriteBehindMaxPendingRows < 1 || options.WriteBehindMaxPendingRows > 10_000_000)
        {
            errors.Add($"{s}:WriteBehindMaxPendingRows must be between 1 and 10000000 (got {options.WriteBehindMaxPendingRows}).");
        }

        if (options.WriteBehindMaxRetryDelay < TimeSpan.FromMilliseconds(1) || options.WriteBehindMaxRetryDelay > TimeSpan.FromHours(1))
        {
            errors.Add($"{s}:WriteBehindMaxRetryDelay must be between 1 ms and 1 hour (got {options.WriteBehindMaxRetryDelay}).");
        }

        if (options.WriteBehindDrainTimeout < TimeSpan.FromMilliseconds(10) || options.WriteBehindDrainTimeout > TimeSpan.FromMinutes(10))
        {
            errors.Add($"{s}:WriteBehindDrainTimeout must be between 10 ms and 10 minutes (got {options.WriteBehindDrainTimeout}).");
        }

        if (options.SubscriptionExpiry < TimeSpan.FromSeconds(1) || options.SubscriptionExpiry > TimeSpan.FromDays(1))
        {
            errors.Add($"{s}:SubscriptionExpiry must be between 1 s and 1 day (got {options.SubscriptionExpiry}).");
        }

        if (!string.IsNullOrWhiteSpace(options.BackingConnectionString))
        {
            try
            {
                _ = new Npgsql.NpgsqlConnectionStringBuilder(options.BackingConnectionString);
            }
            catch (ArgumentException ex)
            {
                errors.Add($"{s}:BackingConnectionString is not a valid PostgreSQL connection string ({ex.Message}).");
            }
        }

        if (!Enum.IsDefined(options.Store))
        {
            errors.Add($"{s}:Store must be Auto, Postgres or Memory.");
        }

        if (!Enum.IsDefined(options.EvictionPolicy))
        {
            errors.Add($"{s}:EvictionPolicy must be NoEviction, Lru, Lfu or TtlFirst.");
        }

        if (options.EvictionSamples < 1 || options.EvictionSamples > 1000)
        {
            errors.Add($"{s}:EvictionSamples must be between 1 and 1000 (got {options.EvictionSamples}).");
        }

        if (options.MaxValueLength < 1 || options.MaxValueLength > Limits.Caching.MaxValueLength)
        {
            errors.Add($"{s}:MaxValueLength must be between 1 and {Limits.Caching.MaxValueLength} (got {options.MaxValueLength}).");
        }

        if (options.ActiveExpiryInterval < TimeSpan.FromMilliseconds(10) || options.ActiveExpiryInterval > TimeSpan.FromMinutes(10))
        {
            errors.Add($"{s}:ActiveExpiryInterval must be between 10 ms and 10 minutes (got {options.ActiveExpiryInterval}).");
        }

        return errors.Count == 0 ? ValidateOptionsResult.Success : ValidateOptionsResult.Fail(errors);
    }
}
