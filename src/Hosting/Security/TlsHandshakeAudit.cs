using System.Net;
using System.Net.Security;
using System.Security.Cryptography.X509Certificates;
using Granary.Client.Security;
using Microsoft.AspNetCore.Connections;
using Microsoft.Extensions.Logging;

namespace Granary.Server.Security;

/// <summary>
/// Counts and logs incoming TLS handshakes that fail, around the server side of TLS (<see cref="TlsConnection"/>): an outer step
/// that notices when the connection ends without the handshake having completed, and an inner step
/// (reached only after a successful handshake) that marks it complete. The reason comes from the
/// certificate check when it refused (<see cref="NoteRefusal"/>); otherwise the remote sent no
/// certificate, did not speak TLS, offered no common protocol, or timed out (<c>handshake</c>).
/// One warning per <see cref="GranaryTlsOptions.HandshakeFailureLogInterval"/> at most, carrying how
/// many failures were not logged since the previous one.
/// </summary>
internal sealed class TlsHandshakeAudit(SecurityMetrics metrics, ILogger logger, TimeProvider time, TimeSpan logInterval)
{
    /// <summary>The reason when the certificate check did not refuse (see the class summary).</summary>
    public const string HandshakeReason = "handshake";

    // The attempt of the connection whose handshake runs in this flow: the certificate callback
    // Orleans invokes has no connection argument, but runs in the flow of the outer step.
    private static readonly AsyncLocal<Attempt?> Current = new();

    private readonly Lock _gate = new();
    private long? _lastLogged;
    private int _unlogged;

    /// <summary>Records why the certificate check of the current handshake refused (null: accepted).</summary>
    public static void NoteRefusal(string? reason)
    {
        if (Current.Value is { } attempt)
        {
            attempt.Reason = reason;
        }
    }

    /// <summary>Adds the audit steps and the server side of TLS to an inbound connection.</summary>
    public void Wrap(IConnectionBuilder connection, string endpoint, SslServerAuthenticationOptions server, TimeSpan handshakeTimeout)
    {
        connection.Use(next => async context =>
        {
            var attempt = new Attempt();
            Current.Value = attempt;
            await next(context);
            if (!attempt.Completed)
            {
                Failed(endpoint, attempt.Reason ?? HandshakeReason, context.RemoteEndPoint);
            }
        });
        connection.UseGranaryServerTls(server, handshakeTimeout);
        connection.Use(next => context =>
        {
            if (Current.Value is { } attempt)
            {
                attempt.Completed = true;

                // The outer step holds the attempt itself. Cleared, the connection's lifetime of
                // reads and writes does not carry a value of its own in its execution context (which
                // every continuation would then have to capture and restore).
                Current.Value = null;
            }

            return next(context);
        });
    }

    private void Failed(string endpoint, string reason, EndPoint? remote)
    {
        metrics.TlsHandshakeFailures.Add(1, new KeyValuePair<string, object?>("endpoint", endpoint), new KeyValuePair<string, object?>("reason", reason));
        int unlogged;
        lock (_gate)
        {
            var now = time.GetTimestamp();
            if (_lastLogged is { } last && time.GetElapsedTime(last, now) < logInterval)
            {
                _unlogged++;
                return;
            }

            _lastLogged = now;
            unlogged = _unlogged;
            _unlogged = 0;
        }

        SecurityLog.TlsHandshakeRefused(logger, endpoint, remote?.ToString() ?? "unknown", reason, unlogged, logInterval.TotalSeconds);
    }

    private sealed class Attempt
    {
        public volatile bool Completed;
        public volatile string? Reason;
    }
}

/// <summary>Logs once, when the silo is active, which certificate it shows and whom it trusts.</summary>
internal sealed class TlsStartupReporter(ILogger logger, X509Certificate2 certificate, GranaryTlsOptions options) : ILifecycleParticipant<ISiloLifecycle>
{
    public void Participate(ISiloLifecycle lifecycle)
    {
        ArgumentNullException.ThrowIfNull(lifecycle);
        lifecycle.Subscribe(nameof(TlsStartupReporter), ServiceLifecycleStage.Active, _ =>
        {
            SecurityLog.TlsEnabled(
                logger,
                certificate.Subject,
                certificate.Thumbprint,
                certificate.NotAfter.ToUniversalTime(),
                Describe(options.Silos),
                options.Clients.IsEmpty ? "silo certificates only" : Describe(options.Clients),
                options.Protocols.ToString());
            return Task.CompletedTask;
        });
    }

    private static string Describe(TlsPeerTrustOptions trust) =>
        string.Join(" and ", new[]
        {
            string.IsNullOrWhiteSpace(trust.CaFile) ? null : "chain to " + trust.CaFile,
            trust.Thumbprints.Length == 0 ? null : trust.Thumbprints.Length + " pinned thumbprint(s)",
        }.Where(s => s is not null));
}
