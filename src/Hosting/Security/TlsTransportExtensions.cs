using System.Net.Security;
using System.Security.Cryptography.X509Certificates;
using Granary.Client.Security;
using Microsoft.AspNetCore.Connections;
using Microsoft.Extensions.Configuration;
using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.Logging;
using Microsoft.Extensions.Options;
using Orleans.Configuration;

namespace Granary.Server.Security;

/// <summary>
/// Mutual TLS on Orleans' connections from <c>Granary:Security:Tls</c> (see <see cref="GranaryTlsOptions"/>):
/// silo port, gateway port and outgoing silo connections on a silo (a client's side is <see cref="TlsClientExtensions.UseGranaryTls"/>).
/// </summary>
/// <example><code>
/// silo.AddGranaryTls(configuration);      // called by AddGranarySecurity
/// client.UseGranaryTls(configuration);    // called by UseGranaryClustering
/// </code></example>
public static class TlsTransportExtensions
{
    /// <summary>The role a remote certificate is checked for, as the <c>endpoint</c> tag and log field say.</summary>
    internal const string SiloEndpoint = "silo";

    /// <summary>The gateway endpoint's name in tags and logs.</summary>
    internal const string GatewayEndpoint = "gateway";

    /// <summary>
    /// When TLS is on: every silo-to-silo connection and every gateway connection requires TLS and a
    /// trusted client certificate; failed incoming handshakes are logged (rate-limited) and counted.
    /// </summary>
    public static ISiloBuilder AddGranaryTls(this ISiloBuilder silo, IConfiguration configuration)
    {
        ArgumentNullException.ThrowIfNull(silo);
        ArgumentNullException.ThrowIfNull(configuration);
        if (TlsClientExtensions.BindEnabled(silo.Services, configuration, nameof(AddGranaryTls)) is not { } options)
        {
            return silo;
        }

        var certificate = TlsCertificateLoader.Load(options);
        var silos = new TlsPeerTrust(options.Silos, options.RevocationMode);
        var clients = new TlsPeerTrust(options.Clients, options.RevocationMode);
        if (!silos.Pins && silos.AuthorityThumbprints.Intersect(clients.AuthorityThumbprints, StringComparer.Ordinal).Any())
        {
            // One CA for both roles and no pinning: any client certificate would pass as a silo.
            throw TlsCertificateLoader.Invalid(
                $"{GranaryTlsOptions.SectionName}:Silos and :Clients trust the same CA and Silos:Thumbprints is empty, so any client certificate would be accepted as a silo: list the silo certificates in Silos:Thumbprints or issue silo certificates from a CA of their own.");
        }

        silo.Services.AddSingleton(sp => new TlsHandshakeAudit(
            sp.GetRequiredService<SecurityMetrics>(),
            sp.GetRequiredService<ILoggerFactory>().CreateLogger(typeof(TlsHandshakeAudit)),
            sp.GetService<TimeProvider>() ?? TimeProvider.System,
            options.HandshakeFailureLogInterval));
        silo.Services.AddSingleton<ILifecycleParticipant<ISiloLifecycle>>(sp => new TlsStartupReporter(
            sp.GetRequiredService<ILoggerFactory>().CreateLogger(typeof(TlsHandshakeAudit)), certificate, options));

        silo.Services.AddOptions<SiloConnectionOptions>().Configure<IServiceProvider>((connections, services) =>
        {
            var audit = services.GetRequiredService<TlsHandshakeAudit>();
            var siloServer = ServerOptions(options, certificate, (c, chain) => silos.Check(c, chain));
            var gatewayServer = ServerOptions(options, certificate, (c, chain) =>
            {
                var asClient = clients.IsEmpty ? "not-allowed" : clients.Check(c, chain);
                return asClient is null || silos.Check(c, chain) is null ? null : asClient;
            });
            var outbound = TlsClientExtensions.ClientOptions(options, certificate, silos);
            connections.ConfigureSiloInboundConnection(connection => audit.Wrap(connection, SiloEndpoint, siloServer, options.HandshakeTimeout));
            connections.ConfigureGatewayInboundConnection(connection => audit.Wrap(connection, GatewayEndpoint, gatewayServer, options.HandshakeTimeout));
            connections.ConfigureSiloOutboundConnection(connection => connection.UseGranaryClientTls(outbound, options.HandshakeTimeout));
        });
        return silo;
    }

    private static SslServerAuthenticationOptions ServerOptions(GranaryTlsOptions options, X509Certificate2 certificate, Func<X509Certificate2, X509Chain?, string?> check) => new()
    {
        ServerCertificateContext = SslStreamCertificateContext.Create(certificate, additionalCertificates: null, offline: true),
        ClientCertificateRequired = true,
        EnabledSslProtocols = options.Protocols,
        CertificateRevocationCheckMode = X509RevocationMode.NoCheck,
        RemoteCertificateValidationCallback = (_, remote, chain, _) =>
        {
            // No certificate: refused with the generic reason (the remote sent none).
            var refused = remote is X509Certificate2 certificate2 ? check(certificate2, chain) : null;
            TlsHandshakeAudit.NoteRefusal(refused);
            return remote is not null && refused is null;
        },
    };
}
