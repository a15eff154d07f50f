using System.Collections.Concurrent;
using System.Diagnostics;
using System.Globalization;
using System.Net;
using System.Net.Http.Json;
using Granary.Client.Transactions;
using Granary.Grocery;
using Granary.Grocery.Api;
using Granary.Tests.Cluster.Infrastructure;
using Granary.Transactions;
using Microsoft.AspNetCore.Hosting;
using Xunit.Abstractions;

namespace Granary.Tests.Cluster.Samples;

/// <summary>
/// The grocery sample end to end: its API (through HTTP) takes orders concurrently, pays each with
/// one two-phase commit under the item's lock and queues it; a worker, a separate client of the
/// cluster, fulfils it. Stock and money are read from the cluster, not from the API.
/// </summary>
public sealed class GrocerySampleTests(GrocerySampleFixture fixture, ITestOutputHelper output) : IClassFixture<GrocerySampleFixture>
{
    /// <summary>Time for every accepted order's task to run: 40 tasks at the worker's concurrency of 4 take well under a second unloaded.</summary>
    private static readonly TimeSpan FulfilmentBound = TimeSpan.FromSeconds(30);

    [Fact]
    public async Task Concurrent_orders_never_oversell_conserve_money_and_every_accepted_order_is_fulfilled()
    {
        using var http = fixture.Api.CreateClient();
        var before = await ReadShopAsync();
        var random = new Random(19);
        var plans = Enumerable.Range(0, 40).Select(i => new OrderRequest(
            GrocerySampleFixture.Contested[random.Next(GrocerySampleFixture.Contested.Count)].Sku,
            1 + random.Next(3),
            GrocerySampleFixture.Contenders[i % GrocerySampleFixture.Contenders.Count].Name,
            string.Create(CultureInfo.InvariantCulture, $"c{i}-{Guid.NewGuid():N}"))).ToList();
        var accepted = new ConcurrentBag<OrderAccepted>();
        var refused = new ConcurrentBag<(OrderRequest Order, OrderError Error)>();
        var clock = Stopwatch.StartNew();

        // 8 callers, one per customer, each placing its 5 orders one after another.
        await Task.WhenAll(plans.GroupBy(p => p.Customer).Select(async orders =>
        {
            foreach (var order in orders)
            {
                using var response = await http.PostAsJsonAsync("/orders", order, GroceryJsonContext.Default.OrderRequest);
                if (response.StatusCode == HttpStatusCode.Accepted)
                {
                    var body = await response.Content.ReadFromJsonAsync(GroceryJsonContext.Default.OrderAccepted);
                    Assert.Equal($"/orders/{order.OrderId}", response.Headers.Location?.OriginalString);
                    accepted.Add(body!);
                }
                else
                {
                    Assert.True(response.StatusCode == HttpStatusCode.Conflict, $"order {order.OrderId}: {(int)response.StatusCode} {await response.Content.ReadAsStringAsync()}");
                    refused.Add((order, (await response.Content.ReadFromJsonAsync(GroceryJsonContext.Default.OrderError))!));
                }
            }
        }));
        output.WriteLine($"{accepted.Count} accepted, {refused.Count} refused in {clock.ElapsedMilliseconds} ms");

        Assert.Equal(plans.Count, accepted.Count + refused.Count);
        Assert.NotEmpty(accepted);
        Assert.NotEmpty(refused); // the demand (~80 units) is far above the stock (24 units)
        Assert.All(refused, r =>
        {
            Assert.Equal(TransactionErrorCodes.Insufficient, r.Error.Code);
            Assert.False(string.IsNullOrWhiteSpace(r.Error.Reason));
        });

        var after = await ReadShopAsync();
        foreach (var (sku, price, _) in GrocerySampleFixture.Contested)
        {
            var sold = accepted.Where(a => a.Item == sku).Sum(a => a.Quantity);
            Assert.True(after.Stock[sku] >= 0, $"{sku}: stock {after.Stock[sku]}");
            Assert.Equal(before.Stock[sku] - sold, after.Stock[sku]);
            Assert.All(accepted.Where(a => a.Item == sku), a => Assert.Equal(price * a.Quantity, a.Total));
        }

        // Money: each customer paid exactly its accepted orders, the till got exactly that, nothing is held.
        foreach (var (name, _) in GrocerySampleFixture.Contenders)
        {
            Assert.Equal(before.Balances[name] - accepted.Where(a => a.Customer == name).Sum(a => a.Total), after.Balances[name]);
        }

        Assert.Equal(before.Balances[fixture.ShopAccount] + accepted.Sum(a => a.Total), after.Balances[fixture.ShopAccount]);
        Assert.Equal(before.Balances.Values.Sum(), after.Balances.Values.Sum());
        Assert.Equal(0, after.Held);
        Assert.Equal(0, after.Reserved);

        // Every accepted order is fulfilled by the worker; a refused one was never queued.
        foreach (var order in accepted)
        {
            var status = await Eventually.ValueAsync($"order {order.OrderId} fulfilled", () => StatusAsync(http, order.OrderId), s => s.State == "Succeeded", FulfilmentBound);
            Assert.Equal(order.OrderId, status.Fulfilment?.OrderId);
        }

        foreach (var (order, _) in refused)
        {
            using var response = await http.GetAsync(new Uri($"/orders/{order.OrderId}", UriKind.Relative));
            Assert.Equal(HttpStatusCode.NotFound, response.StatusCode);
        }

        output.WriteLine($"all fulfilled after {clock.ElapsedMilliseconds} ms");
    }

    [Fact]
    public async Task A_retried_order_is_paid_once_and_a_bad_order_gets_a_typed_error_and_changes_nothing()
    {
        using var http = fixture.Api.CreateClient();
        var customer = GrocerySampleFixture.Regular.Name;
        var tea = GrocerySampleFixture.Tea;
        var order = new OrderRequest(tea.Sku, 3, customer, "retry-" + Guid.NewGuid().ToString("N"));
        var before = await ReadShopAsync();

        using (var first = await http.PostAsJsonAsync("/orders", order, GroceryJsonContext.Default.OrderRequest))
        using (var again = await http.PostAsJsonAsync("/orders", order, GroceryJsonContext.Default.OrderRequest))
        {
            Assert.Equal(HttpStatusCode.Accepted, first.StatusCode);
            Assert.Equal(HttpStatusCode.Accepted, again.StatusCode);
        }

        var paid = await ReadShopAsync();
        Assert.Equal(before.Balances[customer] - (3 * tea.Price), paid.Balances[customer]);
        Assert.Equal(before.Balances[fixture.ShopAccount] + (3 * tea.Price), paid.Balances[fixture.ShopAccount]);
        Assert.Equal(before.Stock[tea.Sku] - 3, paid.Stock[tea.Sku]);

        var other = order with { Quantity = 2 };
        await AssertRefusedAsync(http, other, HttpStatusCode.Conflict, "CONFLICT");
        await AssertRefusedAsync(http, new OrderRequest("caviar", 1, customer), HttpStatusCode.NotFound, "NOT_FOUND");
        await AssertRefusedAsync(http, new OrderRequest(tea.Sku, 0, customer), HttpStatusCode.BadRequest, "INVALID_ARGUMENT");
        await AssertRefusedAsync(http, new OrderRequest(tea.Sku, tea.Stock + 1, customer), HttpStatusCode.Conflict, TransactionErrorCodes.Insufficient);
        await AssertRefusedAsync(http, new OrderRequest(tea.Sku, 1, "nobody-" + Guid.NewGuid().ToString("N")[..6]), HttpStatusCode.NotFound, "NOT_FOUND");

        var after = await ReadShopAsync();
        Assert.Equal(paid.Balances, after.Balances);
        Assert.Equal(paid.Stock, after.Stock);
        var status = await Eventually.ValueAsync($"order {order.OrderId} fulfilled", () => StatusAsync(http, order.OrderId!), s => s.State == "Succeeded", FulfilmentBound);
        Assert.Equal(Environment.ProcessId, status.Fulfilment?.WorkerProcessId); // the in-process worker host
    }

    [Fact]
    public async Task The_catalogue_is_loaded_from_the_seed_once_then_served_from_the_distributed_cache()
    {
        using var http = fixture.Api.CreateClient();
        using var first = await http.GetAsync(new Uri("/catalogue", UriKind.Relative));
        using var second = await http.GetAsync(new Uri("/catalogue", UriKind.Relative));

        first.EnsureSuccessStatusCode();
        second.EnsureSuccessStatusCode();
        Assert.Equal("seed", Assert.Single(first.Headers.GetValues(CatalogueReader.SourceHeader)));
        Assert.Equal("cache", Assert.Single(second.Headers.GetValues(CatalogueReader.SourceHeader)));
        var loaded = await first.Content.ReadFromJsonAsync(GroceryJsonContext.Default.Catalogue);
        var cached = await second.Content.ReadFromJsonAsync(GroceryJsonContext.Default.Catalogue);
        Assert.Equal(GrocerySampleFixture.Items.Select(i => (i.Sku, i.Price)), loaded!.Items.Select(i => (i.Sku, i.Price)));
        Assert.Equal(loaded.Items, cached!.Items);
        Assert.Equal(loaded.LoadedAt, cached.LoadedAt);
    }

    [Fact]
    public async Task A_task_handler_in_a_separate_worker_process_fulfils_an_order_placed_through_the_api()
    {
        // A queue only the worker process serves, and the API (the same app) queuing to it.
        var queue = "orders-process-" + Guid.NewGuid().ToString("N")[..8];
        using var api = fixture.Api.WithWebHostBuilder(web => web.UseSetting("Grocery:Queue", queue));
        using var http = api.CreateClient();
        await using var worker = WorkerProcess.Start(fixture.Settings, queue);
        await fixture.WaitForWorkerAsync(queue, TimeSpan.FromSeconds(90), () => worker.HasExited); // the process starts and connects
        Assert.False(worker.HasExited, worker.Describe());

        var order = new OrderRequest(GrocerySampleFixture.Tea.Sku, 1, GrocerySampleFixture.Regular.Name, "process-" + Guid.NewGuid().ToString("N"));
        using (var response = await http.PostAsJsonAsync("/orders", order, GroceryJsonContext.Default.OrderRequest))
        {
            Assert.True(response.StatusCode == HttpStatusCode.Accepted, await response.Content.ReadAsStringAsync());
        }

        var status = await Eventually.ValueAsync(
            $"order {order.OrderId} fulfilled by the worker process ({worker.Describe()})",
            () => StatusAsync(http, order.OrderId!),
            s => s.State == "Succeeded" || worker.HasExited,
            FulfilmentBound,
            TimeSpan.FromMilliseconds(100));
        Assert.False(worker.HasExited, worker.Describe());
        Assert.Equal(worker.ProcessId, status.Fulfilment?.WorkerProcessId);
        Assert.NotEqual(Environment.ProcessId, status.Fulfilment?.WorkerProcessId);
    }

    private static async Task AssertRefusedAsync(HttpClient http, OrderRequest order, HttpStatusCode status, string code)
    {
        using var response = await http.PostAsJsonAsync("/orders", order, GroceryJsonContext.Default.OrderRequest);
        Assert.Equal(status, response.StatusCode);
        var error = await response.Content.ReadFromJsonAsync(GroceryJsonContext.Default.OrderError);
        Assert.Equal(code, error?.Code);
        Assert.False(string.IsNullOrWhiteSpace(error?.Reason));
    }

    private static async Task<OrderStatus> StatusAsync(HttpClient http, string orderId)
    {
        using var response = await http.GetAsync(new Uri($"/orders/{orderId}", UriKind.Relative));
        response.EnsureSuccessStatusCode();
        return (await response.Content.ReadFromJsonAsync(GroceryJsonContext.Default.OrderStatus))!;
    }

    private async Task<ShopState> ReadShopAsync()
    {
        var grains = fixture.Grains;
        var stock = new Dictionary<string, int>(StringComparer.Ordinal);
        var reserved = 0;
        foreach (var (sku, _, _) in GrocerySampleFixture.Items)
        {
            var inventory = await grains.GetGrain<IInventoryGrain>(TransactionClient.StockKey(fixture.Shop, sku)).GetAsync();
            stock[sku] = inventory.Stock[sku];
            reserved += inventory.Reserved.Values.Sum();
        }

        var balances = new Dictionary<string, long>(StringComparer.Ordinal);
        var held = 0L;
        foreach (var name in GrocerySampleFixture.Customers.Select(c => c.Name).Append(fixture.ShopAccount))
        {
            var account = await grains.GetGrain<IAccountGrain>(name).GetAsync();
            balances[name] = account.Balance;
            held += account.Held + account.PendingCredits;
        }

        return new ShopState(stock, balances, held, reserved);
    }

    private sealed record ShopState(Dictionary<string, int> Stock, Dictionary<string, long> Balances, long Held, int Reserved);
}
