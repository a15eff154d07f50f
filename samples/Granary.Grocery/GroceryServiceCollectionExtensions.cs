using Microsoft.Extensions.Configuration;
using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.DependencyInjection.Extensions;
using Microsoft.Extensions.Options;

namespace Granary.Grocery;

/// <summary>Registration shared by the sample's API and worker.</summary>
public static class GroceryServiceCollectionExtensions
{
    /// <summary>Binds <see cref="GroceryOptions"/> from <c>Grocery</c> and validates them at start-up; registers the system clock unless one is.</summary>
    public static IServiceCollection AddGroceryOptions(this IServiceCollection services, IConfiguration configuration)
    {
        ArgumentNullException.ThrowIfNull(services);
        ArgumentNullException.ThrowIfNull(configuration);
        services.AddOptions<GroceryOptions>().Bind(configuration.GetSection(GroceryOptions.SectionName)).ValidateOnStart();
        services.TryAddEnumerable(ServiceDescriptor.Singleton<IValidateOptions<GroceryOptions>, GroceryOptionsValidator>());
        services.TryAddSingleton(TimeProvider.System);
        return services;
    }
}
