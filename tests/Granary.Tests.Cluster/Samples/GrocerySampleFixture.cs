using System.Globalization;
using Granary.Client.Scheduling;
using Granary.Grocery;
using Granary.Grocery.Worker;
using Granary.Tests.Cluster.Infrastructure;
using Microsoft.AspNetCore.Mvc.Testing;
using Microsoft.Extensions.Configuration;
using Microsoft.Extensions.Hosting;
using Microsoft.Extensions.Logging;
using Orleans.TestingHost;

namespace Granary.Tests.Cluster.Samples;

/// <summary>
/// The grocery sample against an in-process test cluster whose silos take external clients over
/// TCP: the API (<see cref="WebApplicationFactory{TEntryPoint}"/> of its <c>Program</c>, connected
/// to the cluster's gateways through configuration only, as it would be in production) and the
/// worker's wiring started in a host of its own, a separate client of the cluster.
/// </summary>
public sealed class GrocerySampleFixture : GranaryTestClusterFixture
{
    /// <summary>The items the concurrent orders compete for, with their price and stock at seeding: little stock, so orders run out of it.</summary>
    public static readonly IReadOnlyList<(string Sku, long Price, int Stock)> Contested = [("apple", 40, 10), ("bread", 350, 6), ("milk", 120, 8)];

    /// <summary>An item with plenty of stock, for the tests that must not run out.</summary>
    public static readonly (string Sku, long Price, int Stock) Tea = ("tea", 10, 1_000);

    /// <summary>Every item of the shop.</summary>
    public static readonly IReadOnlyList<(string Sku, long Price, int Stock)> Items = [.. Contested, Tea];

    /// <summary>The customers of the concurrent orders and their starting balances: some too poor for a loaf of bread.</summary>
    public static readonly IReadOnlyList<(string Name, long Balance)> Contenders =
        [.. Enumerable.Range(0, 8).Select(i => (string.Create(CultureInfo.InvariantCulture, $"customer-{i}"), 300L + (200L * i)))];

    /// <summary>A customer with plenty of money, for the tests that must not run out.</summary>
    public static readonly (string Name, long Balance) Regular = ("regular", 1_000_000);

    /// <summary>Every customer.</summary>
    public static readonly IReadOnlyList<(string Name, long Balance)> Customers = [.. Contenders, Regular];

    private WebApplicationFactory<Program>? _api;
    private IHost? _worker;

    /// <summary>The shop (inventory keys are <c>shop/sku</c>).</summary>
    public string Shop { get; } = "shop-" + Guid.NewGuid().ToString("N")[..8];

    /// <summary>The account payments go to.</summary>
    public string ShopAccount => Shop + "-till";

    /// <summary>The API as the tests call it.</summary>
    public WebApplicationFactory<Program> Api => _api ?? throw new InvalidOperationException("not started");

    /// <summary>The settings the sample's processes get: the cluster's gateways and the grocery seed.</summary>
    public IReadOnlyDictionary<string, string> Settings { get; private set; } = new Dictionary<string, string>();

    /// <inheritdoc/>
    protected override short InitialSilos => 2;

    /// <inheritdoc/>
    public override async Task InitializeAsync()
    {
        await base.InitializeAsync();
        Settings = SampleSettings();
        _api = new WebApplicationFactory<Program>().WithWebHostBuilder(web =>
        {
            foreach (var (key, value) in Settings)
            {
                web.UseSetting(key, value);
            }
        });
        _ = _api.Server; // starts the API: connects to the cluster, declares the queue, seeds the shop

        _worker = StartWorkerHost(Settings);
        await _worker.StartAsync();
        await WaitForWorkerAsync("orders", TimeSpan.FromSeconds(30));
    }

    /// <summary>
    /// Waits until a worker serves <paramref name="queue"/> (registered, with its task types declared
    /// to the queue, so that the API's <c>fulfil-order</c> tasks are accepted).
    /// </summary>
    public Task WaitForWorkerAsync(string queue, TimeSpan bound, Func<bool>? givenUp = null) =>
        Eventually.TrueAsync(
            $"a worker serves task queue '{queue}'",
            async () => givenUp?.Invoke() == true || (await new TaskClient(Grains).WorkersAsync(queue)).Count > 0,
            bound,
            TimeSpan.FromMilliseconds(100));

    /// <inheritdoc/>
    public override async Task DisposeAsync()
    {
        if (_worker is not null)
        {
            await _worker.StopAsync();
            _worker.Dispose();
        }

        if (_api is not null)
        {
            await _api.DisposeAsync();
        }

        await base.DisposeAsync();
    }

    /// <summary>The worker's wiring (<see cref="GroceryWorkerExtensions.AddGroceryWorker"/>) in a host of its own.</summary>
    public static IHost StartWorkerHost(IReadOnlyDictionary<string, string> settings)
    {
        var builder = Host.CreateEmptyApplicationBuilder(new HostApplicationBuilderSettings());
        builder.Configuration.AddInMemoryCollection(settings.Select(kv => KeyValuePair.Create(kv.Key, (string?)kv.Value)));
        builder.Logging.SetMinimumLevel(LogLevel.Warning);
        builder.Services.AddGroceryWorker(builder.Configuration);
        return builder.Build();
    }

    /// <inheritdoc/>
    protected override Task ConfigureAsync(TestClusterBuilder builder)
    {
        ArgumentNullException.ThrowIfNull(builder);
        builder.Options.ConnectionTransport = ConnectionTransportType.TcpSocket;
        builder.Properties["Granary:Storage:Mode"] = "Memory";
        builder.AddSiloBuilderConfigurator<SharedMemoryCacheShardStoreConfigurator>();
        return Task.CompletedTask;
    }

    private Dictionary<string, string> SampleSettings()
    {
        var settings = new Dictionary<string, string>(StringComparer.Ordinal)
        {
            ["Orleans:ClusterId"] = Cluster.Options.ClusterId,
            ["Orleans:ServiceId"] = Cluster.Options.ServiceId,
            ["Granary:Cluster:Mode"] = "Localhost",
            ["Grocery:Shop"] = Shop,
            ["Grocery:ShopAccount"] = ShopAccount,
            ["Grocery:Queue"] = "orders",
            ["Grocery:Seed"] = "true",
        };
        var gateways = Cluster.Silos.Select(s => s.GatewayAddress?.Endpoint.Port ?? throw new InvalidOperationException($"{s.Name} has no gateway")).ToList();
        for (var i = 0; i < gateways.Count; i++)
        {
            settings[Key("Granary:Cluster:ClientGatewayPorts", i)] = gateways[i].ToString(CultureInfo.InvariantCulture);
        }

        for (var i = 0; i < Items.Count; i++)
        {
            settings[Key("Grocery:Items", i, "Sku")] = Items[i].Sku;
            settings[Key("Grocery:Items", i, "Name")] = Items[i].Sku;
            settings[Key("Grocery:Items", i, "Price")] = Items[i].Price.ToString(CultureInfo.InvariantCulture);
            settings[Key("Grocery:Items", i, "InitialStock")] = Items[i].Stock.ToString(CultureInfo.InvariantCulture);
        }

        for (var i = 0; i < Customers.Count; i++)
        {
            settings[Key("Grocery:Customers", i, "Name")] = Customers[i].Name;
            settings[Key("Grocery:Customers", i, "Balance")] = Customers[i].Balance.ToString(CultureInfo.InvariantCulture);
        }

        return settings;
    }

    private static string Key(string section, int index, string? member = null) =>
        string.Create(CultureInfo.InvariantCulture, $"{section}:{index}") + (member is null ? "" : ":" + member);
}
