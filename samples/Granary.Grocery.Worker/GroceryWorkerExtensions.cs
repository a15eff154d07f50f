using Granary.Client.DependencyInjection;
using Microsoft.Extensions.Configuration;
using Microsoft.Extensions.DependencyInjection;

namespace Granary.Grocery.Worker;

/// <summary>The worker process's wiring (tests start the same wiring in a host of their own).</summary>
public static class GroceryWorkerExtensions
{
    /// <summary>
    /// Connects to the cluster, registers <see cref="FulfilOrder"/> for <c>fulfil-order</c> tasks and
    /// runs a worker serving the orders' queue (<c>Grocery:Queue</c>) with <c>Grocery:WorkerConcurrency</c> tasks at once.
    /// </summary>
    public static IServiceCollection AddGroceryWorker(this IServiceCollection services, IConfiguration configuration)
    {
        ArgumentNullException.ThrowIfNull(services);
        ArgumentNullException.ThrowIfNull(configuration);
        services.AddGroceryOptions(configuration);
        var settings = configuration.GetSection(GroceryOptions.SectionName).Get<GroceryOptions>() ?? new GroceryOptions();

        services.AddGranaryClient(configuration);
        services.AddTaskHandler<FulfilOrder, FulfilOrderTask, Fulfilment>(GroceryOptions.FulfilTaskType, GroceryJsonContext.Default.FulfilOrderTask, GroceryJsonContext.Default.Fulfilment);
        services.AddGranaryWorker(settings.Queue, concurrency: settings.WorkerConcurrency);
        return services;
    }
}
