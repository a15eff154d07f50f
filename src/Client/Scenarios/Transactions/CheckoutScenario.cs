using System.Globalization;
using Granary.Client.Transactions;
using Granary.Transactions;

namespace Granary.Cli.Scenarios.Transactions;

/// <summary>
/// Seed question 21: a grocery checkout as one two-phase commit over three kinds of grains
/// (stock, wallet, coupon). A step that cannot be done aborts the whole and restores everything.
/// </summary>
public sealed class CheckoutScenario : IScenario
{
    /// <inheritdoc/>
    public string Name => "checkout";

    /// <inheritdoc/>
    public string Title => "Grocery checkout: reserve stock + debit wallet + redeem coupon atomically (2PC), or nothing";

    /// <inheritdoc/>
    public async Task<bool> RunAsync(ScenarioContext context, CancellationToken cancellationToken)
    {
        ArgumentNullException.ThrowIfNull(context);
        var run = Guid.NewGuid().ToString("N")[..6];
        var shop = $"shop-{run}";
        var wallet = $"wallet-{run}";
        var coupon = $"coupon-{run}";
        var grains = context.Grains;
        await grains.GetGrain<IAccountGrain>(wallet).OpenAsync(2_000);
        await grains.GetGrain<ICouponGrain>(coupon).IssueAsync(150);
        await grains.GetGrain<IInventoryGrain>(TransactionClient.StockKey(shop, "milk")).SetStockAsync("milk", 4);
        await grains.GetGrain<IInventoryGrain>(TransactionClient.StockKey(shop, "bread")).SetStockAsync("bread", 1);
        var tx = new TransactionClient(grains);
        context.Say("shop: 4 milk, 1 bread; wallet 2000; coupon worth 150 (single use)");

        var first = await tx.CheckoutAsync(wallet, shop, [("milk", 2), ("bread", 1)], 650, coupon);
        var state1 = await ReadAsync(context, shop, wallet, coupon);
        context.Check(first.Outcome == TxOutcome.Committed && state1 is { Milk: 2, Bread: 0, Balance: 1_350, RedeemedBy: not null },
            $"checkout 1 (2 milk, 1 bread, pay 650, coupon): {first.Outcome} -> {state1.Text}");

        // Checkout 2: milk and money are there, but the coupon is already used: the coupon votes no.
        var aborted2 = await AbortedAsync(() => tx.CheckoutAsync(wallet, shop, [("milk", 1)], 300, coupon));
        var state2 = await ReadAsync(context, shop, wallet, coupon);
        context.Check(aborted2 is not null && state2 == state1, $"checkout 2 (1 milk, pay 300, same coupon): {(aborted2 is null ? "COMMITTED" : $"aborted ({aborted2})")} -> {state2.Text}, as before");

        // Checkout 3: no coupon, but bread is sold out: the inventory votes no, the wallet keeps its money.
        var aborted3 = await AbortedAsync(() => tx.CheckoutAsync(wallet, shop, [("milk", 1), ("bread", 1)], 400, null));
        var state3 = await ReadAsync(context, shop, wallet, coupon);
        context.Check(aborted3 is not null && state3 == state1, $"checkout 3 (1 milk + 1 bread, pay 400): {(aborted3 is null ? "COMMITTED" : $"aborted ({aborted3})")} -> {state3.Text}, as before");
        context.Facts["restored"] = context.AllHeld;
        return context.AllHeld;
    }

    private static async Task<string?> AbortedAsync(Func<Task<TransactionResult>> run)
    {
        try
        {
            await run();
            return null;
        }
        catch (TransactionAbortedException ex)
        {
            return ex.Code + ": " + ex.Reason;
        }
    }

    private static async Task<ShopState> ReadAsync(ScenarioContext context, string shop, string wallet, string coupon)
    {
        var milk = await context.Grains.GetGrain<IInventoryGrain>(TransactionClient.StockKey(shop, "milk")).GetAsync();
        var bread = await context.Grains.GetGrain<IInventoryGrain>(TransactionClient.StockKey(shop, "bread")).GetAsync();
        var account = await context.Grains.GetGrain<IAccountGrain>(wallet).GetAsync();
        var c = await context.Grains.GetGrain<ICouponGrain>(coupon).GetAsync();
        return new ShopState(milk.Stock["milk"], bread.Stock["bread"], account.Balance, c.RedeemedBy);
    }

    private sealed record ShopState(int Milk, int Bread, long Balance, string? RedeemedBy)
    {
        public string Text => string.Create(CultureInfo.InvariantCulture, $"milk {Milk}, bread {Bread}, wallet {Balance}, coupon {(RedeemedBy is null ? "unused" : "redeemed")}");
    }
}
