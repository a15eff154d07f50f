using Granary.Client.DependencyInjection;
using Granary.Diagnostics;
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
    /// silo runs grains) and <see cref="Shards"/> (a silo reaches every storage shard now: one cheap
    /// query per shard, each bounded by half the call timeout; Unhealthy names each shard that did not
    /// answer and why). Each check fails (Unhealthy) when its call does not answer within
    /// <see cref="GranaryClientOptions.CallTimeout"/> or the check's own timeout, whichever is first.
    /// Needs <see cref="GranaryClientServiceCollectionExtensions.AddGranaryClient"/>.
    /// </summary>
    public static IHealthChecksBuilder AddGranaryHealthChecks(this IHealthChecksBuilder builder, IEnumerable<string>? tags = null)
    {
        ArgumentNullException.ThrowIfNull(builder);
        var tagList = tags?.ToArray() ?? ["granary"];
        builder.Add(new HealthCheckRegistration(Cluster, sp => new GrainCallHealthCheck(sp, async (grains, _, token) =>
        {
            var stats = await grains.GetGrain<IClusterStatsGrain>(IClusterStatsGrain.Key).GetAsync();
            return (true, $"{stats.Silos.Count} silo(s) reported statistics");
        }), HealthStatus.Unhealthy, tagList));
        builder.Add(new HealthCheckRegistration(Shards, sp => new GrainCallHealthCheck(sp, async (grains, options, token) =>
        {
            var perShard = options.CallTimeout / 2 > MinimumShardTimeout ? options.CallTimeout / 2 : MinimumShardTimeout;
            var health = await grains.GetGrain<IStorageHealthGrain>(0).ProbeAsync(perShard, token);
            var down = health.Shards.Where(s => !s.Reachable).ToList();
            return down.Count == 0
                ? (true, health.Shards.Count == 0 ? $"{health.Mode} storage: no shards" : $"{health.Shards.Count} of {health.Shards.Count} shards reachable")
                : (false, $"{down.Count} of {health.Shards.Count} shards unreachable: " + string.Join("; ", down.Select(s => $"{s.Shard}: {s.Error}")));
        }), HealthStatus.Unhealthy, tagList));
        return builder;
    }

    private static readonly TimeSpan MinimumShardTimeout = TimeSpan.FromMilliseconds(10);

    /// <summary>Healthy when <c>probe</c> answers healthy within the call timeout; Unhealthy with the reason otherwise.</summary>
    private sealed class GrainCallHealthCheck(IServiceProvider services, Func<IGrainFactory, GranaryClientOptions, CancellationToken, Task<(bool Healthy, string Description)>> probe) : IHealthCheck
    {
        public async Task<HealthCheckResult> CheckHealthAsync(HealthCheckContext context, CancellationToken cancellationToken = default)
        {
            var options = services.GetRequiredService<IOptions<GranaryClientOptions>>().Value;
            try
            {
                var grains = services.GetRequiredService<IClusterClient>();
                var (healthy, description) = await options.Bound().On(probe(grains, options, cancellationToken), cancellationToken);
                return healthy ? HealthCheckResult.Healthy(description) : new HealthCheckResult(context.Registration.FailureStatus, description);
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
