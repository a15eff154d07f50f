using Granary.Client;
using Granary.Client.Configuration;
using Granary.Queues;
using Granary.Server.Options;
using Granary.Server.Storage;
using Microsoft.Extensions.Configuration;
using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.DependencyInjection.Extensions;
using Microsoft.Extensions.Options;
using Orleans.Configuration;

namespace Granary.Server.Queues;

/// <summary>Registers the queue family on a silo.</summary>
public static class QueueSiloBuilderExtensions
{
    /// <summary>
    /// Binds and validates <c>Granary:Queues</c> and registers the message store: PostgreSQL shards
    /// (a table of the queue family in each) when grain storage uses them or <c>Store</c> says so,
    /// otherwise process memory.
    /// </summary>
    public static ISiloBuilder AddGranaryQueues(this ISiloBuilder silo, IConfiguration configuration)
    {
        ArgumentNullException.ThrowIfNull(silo);
        ArgumentNullException.ThrowIfNull(configuration);
        if (!silo.Services.AddOnce(nameof(AddGranaryQueues)))
        {
            return silo;
        }

        var options = ValidatedOptions.Bind<QueueOptions, QueueOptionsValidator>(silo.Services, configuration, QueueOptions.SectionName);
        silo.Services.AddSingleton<QueueMetrics>();
        var storage = new GranaryStorageOptions();
        configuration.GetSection(GranaryStorageOptions.SectionName).Bind(storage);
        var usePostgres = options.Store == QueueStoreMode.Postgres
            || (options.Store == QueueStoreMode.Auto && storage.Mode == StorageMode.PostgresShards);
        if (usePostgres && storage.Shards.Length == 0)
        {
            throw new OptionsValidationException(QueueOptions.SectionName, typeof(QueueOptions), [$"{QueueOptions.SectionName}:Store is Postgres but {GranaryStorageOptions.SectionName}:Shards is empty."]);
        }

        if (usePostgres)
        {
            silo.Services.TryAddSingleton<IQueueMessageStore>(sp => new RetryingQueueMessageStore(
                new PostgresQueueMessageStore(
                    storage.Shards,
                    storage.VirtualNodesPerShard,
                    sp.GetRequiredService<IOptions<ClusterOptions>>().Value.ServiceId,
                    sp.GetRequiredService<IOptions<QueueOptions>>().Value.StoreTransactionsPerShard),
                sp.GetService<StorageRetryPolicy>() ?? StorageRetryPolicy.Default));
        }
        else
        {
            silo.Services.TryAddSingleton<IQueueMessageStore, MemoryQueueMessageStore>();
        }

        return silo;
    }
}
