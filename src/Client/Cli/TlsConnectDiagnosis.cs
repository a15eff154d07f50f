using System.Net;
using System.Net.Security;
using System.Net.Sockets;
using System.Security.Authentication;
using System.Security.Cryptography.X509Certificates;
using Granary.Client.Security;
using Granary.Server.Security;
using Microsoft.Extensions.Configuration;
using Microsoft.Extensions.DependencyInjection;
using Orleans.Messaging;
using Orleans.Runtime;
using Orleans.Runtime.Messaging;

namespace Granary.Cli.Cli;

/// <summary>
/// The console's connection retry filter. When a connection to the gateways fails it asks one
/// gateway directly, with a TLS handshake of its own, whether transport security is the cause (the
/// cluster wants TLS and the console has it off, the gateway refuses the console's certificate, the
/// console does not trust the gateway's, or the console wants TLS and the cluster has none). Then
/// it stops at once with a <see cref="Finding"/> that names the setting to give; otherwise it retries
/// like Orleans' default (the cluster may be starting).
/// </summary>
internal sealed class TlsConnectDiagnosis(IServiceProvider services, IConfiguration configuration) : IClientConnectionRetryFilter
{
    private const string S = GranaryTlsOptions.SectionName;
    private static readonly TimeSpan ProbeTimeout = TimeSpan.FromSeconds(3);

    // Under TLS 1.3 a server judges the client's certificate after the client's side of the
    // handshake is done: a refusal arrives within this; a gateway that accepted waits silently.
    private static readonly TimeSpan RefusalWait = TimeSpan.FromSeconds(1.5);
    private static readonly TimeSpan RetryDelay = TimeSpan.FromSeconds(1);

    private bool _probed;

    /// <summary>What transport security problem stopped the connection, if any.</summary>
    public string? Finding { get; private set; }

    /// <inheritdoc/>
    public async Task<bool> ShouldRetryConnectionAttempt(Exception exception, CancellationToken cancellationToken)
    {
        if (cancellationToken.IsCancellationRequested || exception is not (ConnectionFailedException or OrleansMessageRejectionException))
        {
            return false;
        }

        if (!_probed)
        {
            _probed = true;
            Finding = await DiagnoseAsync(cancellationToken);
            if (Finding is not null)
            {
                return false;
            }
        }

        await Task.Delay(RetryDelay, cancellationToken);
        return true;
    }

    private async Task<string?> DiagnoseAsync(CancellationToken cancellationToken)
    {
        var gateways = await services.GetRequiredService<IGatewayListProvider>().GetGateways();
        if (gateways.Count == 0)
        {
            return null;
        }

        var options = new GranaryTlsOptions();
        configuration.GetSection(S).Bind(options);
        var endpoint = new IPEndPoint(IPAddress.Parse(gateways[0].Host), gateways[0].Port);
        using var certificate = options.Enabled ? TlsCertificateLoader.Load(options) : null;
        try
        {
            return await ProbeAsync(endpoint, options, certificate, cancellationToken);
        }
        catch (Exception ex) when (ex is SocketException or IOException or OperationCanceledException && !cancellationToken.IsCancellationRequested)
        {
            return null;
        }
    }

    private static async Task<string?> ProbeAsync(IPEndPoint gateway, GranaryTlsOptions options, X509Certificate2? certificate, CancellationToken cancellationToken)
    {
        using var timeout = CancellationTokenSource.CreateLinkedTokenSource(cancellationToken);
        timeout.CancelAfter(ProbeTimeout);
        using var tcp = new TcpClient();
        await tcp.ConnectAsync(gateway, timeout.Token);
        X509Certificate2? shown = null;
        await using var tls = new SslStream(tcp.GetStream(), leaveInnerStreamOpen: false, (_, remote, _, _) =>
        {
            shown = remote is null ? null : new X509Certificate2(remote);
            return true;
        });
        var refused = certificate is null
            ? $"the gateway {gateway} requires TLS with a client certificate and this console has TLS off: set {S}:Enabled=true, {S}:CertificateFile and {S}:KeyFile (a client certificate the cluster trusts) and {S}:Silos:CaFile (scripts/cluster.sh up --tls writes them to .local/cluster.json)"
            : $"the gateway {gateway} refused this console's client certificate ({certificate.Subject}, thumbprint {certificate.Thumbprint}, valid until {certificate.NotAfter.ToUniversalTime():u}): {S}:CertificateFile must name a certificate issued by the CA in the silos' {S}:Clients:CaFile or listed in their Clients:Thumbprints, valid now";
        try
        {
            await tls.AuthenticateAsClientAsync(
                new SslClientAuthenticationOptions
                {
                    TargetHost = "localhost",
                    ClientCertificates = certificate is null ? null : [certificate],
                    EnabledSslProtocols = options.Enabled ? options.Protocols : SslProtocols.Tls12 | SslProtocols.Tls13,
                },
                timeout.Token);
        }
        catch (Exception ex) when (ex is AuthenticationException or IOException)
        {
            return shown is null
                ? options.Enabled ? $"the gateway {gateway} does not speak TLS (the cluster runs without it): set {S}:Enabled=false, or start the cluster with TLS (scripts/cluster.sh up --tls)" : null
                : refused;
        }

        using (shown)
        {
            if (options.Enabled && shown is not null && new TlsPeerTrust(options.Silos, options.RevocationMode).Check(shown, null) is { } why)
            {
                return $"the gateway {gateway} shows a certificate this console does not trust ({shown.Subject}: {why}): check {S}:Silos:CaFile and {S}:Silos:Thumbprints";
            }
        }

        using var wait = CancellationTokenSource.CreateLinkedTokenSource(cancellationToken);
        wait.CancelAfter(RefusalWait);
        try
        {
            return await tls.ReadAsync(new byte[1], wait.Token) == 0 ? refused : null;
        }
        catch (OperationCanceledException) when (!cancellationToken.IsCancellationRequested)
        {
            // Silence: the gateway accepted the handshake and waits for Orleans' first message.
            return options.Enabled ? null : refused;
        }
        catch (Exception ex) when (ex is AuthenticationException or IOException)
        {
            return refused;
        }
    }
}

/// <summary>Transport security stopped the connection (see <see cref="ExitCodes.TransportSecurity"/>).</summary>
public sealed class TransportSecurityException(string message, Exception? inner = null) : Exception(message, inner);
