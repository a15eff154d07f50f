using Granary.Client.Scheduling;
using Granary.Client.Transactions;
using Granary.Errors;
using Granary.Grocery;
using Granary.Transactions;
using Microsoft.Extensions.Options;

namespace Granary.Grocery.Api;

/// <summary>
/// At start: declares the orders' task queue (so orders can be queued before a worker runs), and
/// with <c>Grocery:Seed</c> opens the accounts and stocks the items that have no stock yet.
/// Seeding is safe to repeat: open accounts and stocked items are left as they are.
/// </summary>
public sealed class GroceryStartup(
    IGrainFactory grains,
    TaskClient tasks,
    IOptions<GroceryOptions> options,
    ILogger<GroceryStartup> logger) : IHostedService
{
    /// <inheritdoc/>
    public async Task StartAsync(CancellationToken cancellationToken)
    {
        var settings = options.Value;
        await tasks.DeclareQueueAsync(settings.Queue);
        if (!settings.Seed)
        {
            return;
        }

        await OpenAsync(settings.ShopAccount, 0);
        foreach (var customer in settings.Customers)
        {
            await OpenAsync(customer.Name, customer.Balance);
        }

        foreach (var item in settings.Items)
        {
            var inventory = grains.GetGrain<IInventoryGrain>(TransactionClient.StockKey(settings.Shop, item.Sku));
            var current = await inventory.GetAsync();
            if (!current.Stock.ContainsKey(item.Sku))
            {
                await inventory.SetStockAsync(item.Sku, item.InitialStock);
                GroceryApiLog.Stocked(logger, item.Sku, item.InitialStock);
            }
        }
    }

    /// <inheritdoc/>
    public Task StopAsync(CancellationToken cancellationToken) => Task.CompletedTask;

    private async Task OpenAsync(string account, long balance)
    {
        try
        {
            await grains.GetGrain<IAccountGrain>(account).OpenAsync(balance);
        }
        catch (InvalidRequestException ex)
        {
            // Opened by an earlier start and used since: keep its balance.
            GroceryApiLog.AlreadyOpen(logger, account, ex.Message);
        }
    }
}
