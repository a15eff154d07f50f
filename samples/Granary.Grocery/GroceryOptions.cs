using Microsoft.Extensions.Options;

namespace Granary.Grocery;

/// <summary>The sample's settings (section <c>Grocery</c>), read by the API and the worker.</summary>
public sealed class GroceryOptions
{
    /// <summary>The configuration section bound to this class.</summary>
    public const string SectionName = "Grocery";

    /// <summary>The task type the API submits and the worker handles.</summary>
    public const string FulfilTaskType = "fulfil-order";

    /// <summary>The shop: its stock is kept in one inventory participant per SKU (<c>shop/sku</c>). Default <c>corner-shop</c>.</summary>
    public string Shop { get; set; } = "corner-shop";

    /// <summary>The account every payment is credited to. Default <c>corner-shop-till</c>.</summary>
    public string ShopAccount { get; set; } = "corner-shop-till";

    /// <summary>The task queue orders are fulfilled from. Default <c>orders</c>.</summary>
    public string Queue { get; set; } = "orders";

    /// <summary>Fulfilment tasks a worker runs at once. Default 4.</summary>
    public int WorkerConcurrency { get; set; } = 4;

    /// <summary>How long an order waits for the lock of its item before it is refused with <c>LOCK_TIMEOUT</c>. Default 10 s.</summary>
    public TimeSpan LockWait { get; set; } = TimeSpan.FromSeconds(10);

    /// <summary>How long the catalogue stays in the cache before it is loaded again from <see cref="Items"/>. Default 1 minute.</summary>
    public TimeSpan CatalogueTtl { get; set; } = TimeSpan.FromMinutes(1);

    /// <summary>
    /// When true the API, at start, opens the shop's and the customers' accounts and sets the stock
    /// of every item that has none yet (items already stocked keep their stock). Default false.
    /// </summary>
    public bool Seed { get; set; }

    /// <summary>The products: the catalogue's seed and their initial stock.</summary>
    public IList<GroceryItemOptions> Items { get; } = [];

    /// <summary>Customer accounts opened by <see cref="Seed"/>, with their starting balances.</summary>
    public IList<GroceryCustomerOptions> Customers { get; } = [];

    /// <summary>The item with this SKU, or null.</summary>
    public GroceryItemOptions? Find(string sku) => Items.FirstOrDefault(i => string.Equals(i.Sku, sku, StringComparison.Ordinal));
}

/// <summary>One product (an element of <c>Grocery:Items</c>).</summary>
public sealed class GroceryItemOptions
{
    /// <summary>The SKU, also the inventory's key suffix.</summary>
    public string Sku { get; set; } = "";

    /// <summary>The display name.</summary>
    public string Name { get; set; } = "";

    /// <summary>Unit price in cents (at least 1).</summary>
    public long Price { get; set; }

    /// <summary>Stock set by <see cref="GroceryOptions.Seed"/> when the item has none yet.</summary>
    public int InitialStock { get; set; }
}

/// <summary>One customer account (an element of <c>Grocery:Customers</c>).</summary>
public sealed class GroceryCustomerOptions
{
    /// <summary>The account name.</summary>
    public string Name { get; set; } = "";

    /// <summary>Starting balance in cents.</summary>
    public long Balance { get; set; }
}

/// <summary>Checks <see cref="GroceryOptions"/> at start-up: a bad setting stops the process with a clear message.</summary>
public sealed class GroceryOptionsValidator : IValidateOptions<GroceryOptions>
{
    /// <inheritdoc/>
    public ValidateOptionsResult Validate(string? name, GroceryOptions options)
    {
        ArgumentNullException.ThrowIfNull(options);
        var failures = new List<string>();
        void Require(bool holds, string message)
        {
            if (!holds)
            {
                failures.Add($"{GroceryOptions.SectionName}:{message}");
            }
        }

        Require(!string.IsNullOrWhiteSpace(options.Shop), "Shop must be set");
        Require(!string.IsNullOrWhiteSpace(options.ShopAccount), "ShopAccount must be set");
        Require(!string.IsNullOrWhiteSpace(options.Queue), "Queue must be set");
        Require(options.WorkerConcurrency is >= 1 and <= 1_000, "WorkerConcurrency must be between 1 and 1000");
        Require(options.LockWait > TimeSpan.Zero && options.LockWait <= TimeSpan.FromMinutes(5), "LockWait must be between 0 and 5 minutes");
        Require(options.CatalogueTtl > TimeSpan.Zero, "CatalogueTtl must be positive");
        foreach (var item in options.Items)
        {
            Require(!string.IsNullOrWhiteSpace(item.Sku) && !item.Sku.Contains('/', StringComparison.Ordinal), $"Items: '{item.Sku}' is not a SKU (non-empty, no '/')");
            Require(item.Price >= 1, $"Items: {item.Sku} needs a price of at least 1");
            Require(item.InitialStock >= 0, $"Items: {item.Sku} cannot start with negative stock");
        }

        Require(options.Items.Select(i => i.Sku).Distinct(StringComparer.Ordinal).Count() == options.Items.Count, "Items: each SKU once");
        foreach (var customer in options.Customers)
        {
            Require(!string.IsNullOrWhiteSpace(customer.Name) && !string.Equals(customer.Name, options.ShopAccount, StringComparison.Ordinal), $"Customers: '{customer.Name}' must be a name other than the shop's account");
            Require(customer.Balance >= 0, $"Customers: {customer.Name} cannot start with a negative balance");
        }

        return failures.Count == 0 ? ValidateOptionsResult.Success : ValidateOptionsResult.Fail(failures);
    }
}
