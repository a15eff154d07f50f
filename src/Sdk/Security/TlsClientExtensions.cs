using System.Net.Security;
using System.Security.Cryptography.X509Certificates;
using Granary.Client.Configuration;
using Microsoft.AspNetCore.Connections;
using Microsoft.Extensions.Configuration;
using Microsoft.Extensions.DependencyInjection;
using Orleans.Configuration;

namespace Granary.Client.Security;

/// <summary>
/// A client's side of mutual TLS from <c>Granary:Security:Tls</c> (see <see cref="GranaryTlsOptions"/>):
/// its gateway connections use TLS with its certificate and check the gateway's against
/// <see cref="GranaryTlsOptions.Silos"/>. Silos use the same options and trust checks.
/// </summary>
/// <example><code>
/// client.UseGranaryTls(configuration);    // called by UseGranaryClustering
/// </code></example>
public static class TlsClientExtensions
{
    /// <summary>When TLS is on: the client's gateway connections use TLS with its certificate and check the gateway's against <see cref="GranaryTlsOptions.Silos"/>.</summary>
    public static IClientBuilder UseGranaryTls(this IClientBuilder client, IConfiguration configuration)
    {
        ArgumentNullException.ThrowIfNull(client);
        ArgumentNullException.ThrowIfNull(configuration);
        if (BindEnabled(client.Services, configuration, nameof(UseGranaryTls)) is not { } options)
        {
            return client;
        }

        var tls = ClientOptions(options, TlsCertificateLoader.Load(options), new TlsPeerTrust(options.Silos, options.RevocationMode));
        client.Services.Configure<ClientConnectionOptions>(connections => connections.ConfigureConnection(connection => connection.UseGranaryClientTls(tls, options.HandshakeTimeout)));
        return client;
    }

    /// <summary>Registers and validates the options once; the options when TLS is on, otherwise (or on a second call) null.</summary>
    internal static GranaryTlsOptions? BindEnabled(IServiceCollection services, IConfiguration configuration, string registration)
    {
        if (!services.AddOnce(registration))
        {
            return null;
        }

        var options = ValidatedOptions.Bind<GranaryTlsOptions, GranaryTlsOptionsValidator>(services, configuration, GranaryTlsOptions.SectionName);
        return options.Enabled ? options : null;
    }

    /// <summary>
    /// The TLS settings of an outgoing connection: this process's certificate (always sent), and the
    /// remote one checked against <paramref name="server"/> alone (not against the OS trust store or
    /// a host name: the trust options say whom to trust). Shared by every connection.
    /// </summary>
    internal static SslClientAuthenticationOptions ClientOptions(GranaryTlsOptions options, X509Certificate2 certificate, TlsPeerTrust server) => new()
    {
        ClientCertificateContext = SslStreamCertificateContext.Create(certificate, additionalCertificates: null, offline: true),
        EnabledSslProtocols = options.Protocols,
        CertificateRevocationCheckMode = X509RevocationMode.NoCheck,
        RemoteCertificateValidationCallback = (_, remote, chain, _) => remote is X509Certificate2 certificate2 && server.Check(certificate2, chain) is null,
    };
}
