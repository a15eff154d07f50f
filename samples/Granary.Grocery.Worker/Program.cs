using Granary.Grocery;
using Granary.Grocery.Worker;
using Microsoft.Extensions.Hosting;

var builder = Host.CreateApplicationBuilder(args);
builder.Configuration.AddLocalClusterFile();
builder.Services.AddGroceryWorker(builder.Configuration);
builder.Build().Run();
