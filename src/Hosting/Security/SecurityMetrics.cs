using System.Diagnostics.Metrics;

namespace Granary.Server.Security;

/// <summary>
/// Counters of security-relevant events on a silo (meter <c>Granary.Security</c>): calls refused,
/// admin commands run, TLS handshakes that failed. One instance per silo.
/// </summary>
public sealed class SecurityMetrics
{
    /// <summary>The meter name.</summary>
    public const string MeterName = "Granary.Security";

    /// <summary>Creates the instruments on the silo's meter factory.</summary>
    public SecurityMetrics(IMeterFactory meters)
    {
        ArgumentNullException.ThrowIfNull(meters);
        var meter = meters.Create(MeterName);
        DeniedCalls = meter.CreateCounter<long>("granary.security.denied_calls", description: "Calls refused (tags: method, reason)");
        AdminCommands = meter.CreateCounter<long>("granary.security.admin_commands", description: "Admin commands run (tags: method, identity)");
        TlsHandshakeFailures = meter.CreateCounter<long>("granary.security.tls_handshake_failures", description: "Incoming TLS handshakes that failed (tag: reason)");
    }

    /// <summary>Calls refused before they reached a grain.</summary>
    public Counter<long> DeniedCalls { get; }

    /// <summary>Admin commands that were allowed and run.</summary>
    public Counter<long> AdminCommands { get; }

    /// <summary>Incoming TLS handshakes that failed.</summary>
    public Counter<long> TlsHandshakeFailures { get; }
}
