using Granary.Client.Configuration;
using Granary.Server.Options;
using Microsoft.Extensions.Logging;
using Microsoft.Extensions.Options;

namespace Granary.Server.Diagnostics;

/// <summary>Logs one line saying how the silo is configured once it is active.</summary>
internal sealed class SiloStartupReporter(
    IOptions<GranaryClusterOptions> cluster,
    IOptions<GranaryStorageOptions> storage,
    ILogger<SiloStartupReporter> logger) : ILifecycleParticipant<ISiloLifecycle>
{
    public void Participate(ISiloLifecycle lifecycle)
    {
        ArgumentNullException.ThrowIfNull(lifecycle);
        lifecycle.Subscribe(nameof(SiloStartupReporter), ServiceLifecycleStage.Active, _ =>
        {
            var c = cluster.Value;
            var s = storage.Value;
            HostingLog.SiloConfigured(logger, c.Mode.ToString(), s.Mode.ToString(), s.Shards.Length, c.MembershipProfile.ToString(), c.SiloPort, c.GatewayPort);
            return Task.CompletedTask;
        });
    }
}
