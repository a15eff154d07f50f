using Granary.Grocery;
using Granary.Grocery.Worker;
using Microsoft.Extensions.Hosting;

var builder = Host.CreateApplicationBuilder(args);
builder.Configuration.AddGrocerySources();
builder.Services.AddGroceryWorker(builder.Configuration);
builder.Build().Run();
