using Granary.Client.DependencyInjection;
using Granary.Grocery;
using Granary.Grocery.Api;

var builder = WebApplication.CreateBuilder(args);
builder.Configuration.AddGrocerySources();

// Granary: the cluster client, the catalogue cache and the stock locks.
builder.Services.AddGranaryClient(builder.Configuration);
builder.Services.AddGranaryDistributedCache(o => o.CacheName = "grocery-catalogue");
builder.Services.AddGranaryDistributedLocks();

builder.Services.AddGroceryApi(builder.Configuration);
var app = builder.Build();
app.MapGroceryApi();
app.Run();

/// <summary>The API's entry point (public for <c>WebApplicationFactory&lt;Program&gt;</c>).</summary>
public partial class Program;
