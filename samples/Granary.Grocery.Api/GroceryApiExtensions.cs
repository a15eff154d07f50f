using Granary.Grocery;

namespace Granary.Grocery.Api;

/// <summary>The sample's services and endpoints (Granary itself is registered by <c>Program</c>).</summary>
public static class GroceryApiExtensions
{
    /// <summary>Registers the order desk, the catalogue reader, the start-up seeding and typed JSON.</summary>
    public static IServiceCollection AddGroceryApi(this IServiceCollection services, IConfiguration configuration)
    {
        ArgumentNullException.ThrowIfNull(services);
        services.AddGroceryOptions(configuration);
        services.ConfigureHttpJsonOptions(o => o.SerializerOptions.TypeInfoResolverChain.Insert(0, GroceryJsonContext.Default));
        services.AddSingleton<CatalogueReader>();
        services.AddSingleton<OrderDesk>();
        services.AddHostedService<GroceryStartup>();
        services.AddHealthChecks();
        return services;
    }

    /// <summary>
    /// <c>GET /catalogue</c>, <c>POST /orders</c>, <c>GET /orders/{id}</c> and <c>GET /healthz</c>.
    /// </summary>
    public static WebApplication MapGroceryApi(this WebApplication app)
    {
        ArgumentNullException.ThrowIfNull(app);
        app.MapGet("/catalogue", async (HttpContext http, CatalogueReader catalogue, CancellationToken ct) =>
        {
            var (value, fromCache) = await catalogue.GetAsync(ct);
            http.Response.Headers[CatalogueReader.SourceHeader] = fromCache ? "cache" : "seed";
            return TypedResults.Ok(value);
        });
        app.MapPost("/orders", (OrderRequest order, OrderDesk desk, CancellationToken ct) => desk.PlaceAsync(order, ct));
        app.MapGet("/orders/{id}", (string id, OrderDesk desk) => desk.StatusAsync(id));
        app.MapHealthChecks("/healthz");
        return app;
    }
}
