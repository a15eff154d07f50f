using Granary.Client.DependencyInjection;
using Granary.Diagnostics;
using Granary.Locks;
using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.Diagnostics.HealthChecks;
using Microsoft.Extensions.Options;

namespace Granary.Client.Diagnostics;

/// <summary>Health checks of the Granary cluster as seen from this client (ASP.NET Core's <c>/health</c>).</summary>
/// <example><code>
/// builder.Services.AddGranaryClient(builder.Configuration);
/// builder.Services.AddHealthChecks().AddGranaryHealthChecks();
/// app.MapHealthChecks("/health");
/// </code></example>
public static class GranaryHealthChecks
{
    /// <summary>Name of the check that a gateway answers a grain call.</summary>
    public const string Cluster = "granary-cluster";

    /// <summary>Name of the check that grain state is read from the storage shards.</summary>
    public const string Shards = "granary-shards";

    /// <summary>
    /// Adds <see cref="Cluster"/> (the cluster statistics grain answers: a gateway is reachable and a
    /// silo runs grains) and <see cref="Shards"/> (a lock grain's status answers: its activation reads
    /// its state from its storage shard). Each check fails (Unhealthy) when its call does not answer
    /// within <see cref="GranaryClientOptions.CallTimeout"/> or the check's own timeout, whichever is first.
    /// Needs <see cref="GranaryClientServiceCollectionExtensions.AddGranaryClient"/>.
    /// </summary>
    public static IHealthChecksBuilder AddGranaryHealthChecks(this IHealthChecksBuilder builder, IEnumerable<string>? tags = null)
    {
        ArgumentNullException.ThrowIfNull(builder);
        var tagList = tags?.ToArray() ?? ["granary"];
        builder.Add(new HealthCheckRegistration(Cluster, sp => new GrainCallHealthCheck(sp, async grains =>
        {
            var stats = await grains.GetGrain<IClusterStatsGrain>(IClusterStatsGrain.Key).GetAsync();
            return $"{stats.Silos.Count} silo(s) reported statistics";
        }), HealthStatus.Unhealthy, tagList));
        builder.Add(new HealthCheckRegistration(Shards, sp => new GrainCallHealthCheck(sp, async grains =>
        {
            var status = await grains.GetGrain<ILockGrain>(ProbeLock).GetStatusAsync();
            return $"lock status answered ({status.Durability} storage)";
        }), HealthStatus.Unhealthy, tagList));
        return builder;
    }

    /// <summary>The lock whose status the shards check reads (never acquired).</summary>
    internal const string ProbeLock = "granary-health-probe";

    /// <summary>Healthy when <c>probe</c> answers within the call timeout; Unhealthy with the reason otherwise.</summary>
    private sealed class GrainCallHealthCheck(IServiceProvider services, Func<IGrainFactory, Task<string>> probe) : IHealthCheck
    {
        public async Task<HealthCheckResult> CheckHealthAsync(HealthCheckContext context, CancellationToken cancellationToken = default)
        {
            var options = services.GetRequiredService<IOptions<GranaryClientOptions>>().Value;
            try
            {
                var grains = services.GetRequiredService<IClusterClient>();
                var description = await options.Bound().On(probe(grains), cancellationToken);
                return HealthCheckResult.Healthy(description);
            }
            catch (OperationCanceledException) when (cancellationToken.IsCancellationRequested)
            {
                throw;
            }
            catch (Exception ex) when (ex is not OutOfMemoryException)
            {
                return new HealthCheckResult(context.Registration.FailureStatus, ex.GetType().Name + ": " + ex.Message, ex);
            }
        }
    }
}
