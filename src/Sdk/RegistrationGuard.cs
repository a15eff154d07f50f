using Microsoft.Extensions.DependencyInjection;

namespace Granary.Client;

/// <summary>
/// The one way every <c>AddGranary*</c> / <c>UseGranary*</c> method stays idempotent: it records a
/// marker service named after itself and returns early when the marker is already there, so a second
/// call registers nothing. <c>TryAdd</c> inside those methods is kept only where a test or a host may
/// register its own implementation first (a store, a journal, the clock), not as a guard.
/// </summary>
internal static class RegistrationGuard
{
    /// <summary>True the first time <paramref name="feature"/> is added to <paramref name="services"/>; false on every later call.</summary>
    /// <example><code>if (!silo.Services.AddOnce(nameof(AddGranaryLocks))) { return silo; }</code></example>
    public static bool AddOnce(this IServiceCollection services, string feature)
    {
        ArgumentNullException.ThrowIfNull(services);
        if (services.Any(d => d.ServiceType == typeof(RegistrationMarker) && d.ImplementationInstance is RegistrationMarker m && m.Feature == feature))
        {
            return false;
        }

        services.AddSingleton(new RegistrationMarker(feature));
        return true;
    }

    /// <summary>Marks one feature as registered.</summary>
    private sealed record RegistrationMarker(string Feature);
}
