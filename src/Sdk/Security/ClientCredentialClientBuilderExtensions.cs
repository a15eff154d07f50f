using Granary.Client.Configuration;
using Microsoft.Extensions.Configuration;
using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.Options;
using Orleans.Configuration;

namespace Granary.Client.Security;

/// <summary>Registers the client's credential (<see cref="ClientCredentialOptions"/>).</summary>
public static class ClientCredentialClientBuilderExtensions
{
    /// <summary>
    /// Reads <c>Granary:Client:Token</c> or <c>TokenFile</c> and, when one is set, attaches the token
    /// to every call the client makes (<see cref="ClientCredentialFilter"/>); or, with
    /// <c>CertificateFile</c> and <c>CertificateKeyFile</c>, a signed certificate assertion
    /// (<see cref="ClientCertificateCredentialFilter"/>). Idempotent.
    /// </summary>
    /// <example><code>client.AddGranaryClientCredentials(configuration);</code></example>
    public static IClientBuilder AddGranaryClientCredentials(this IClientBuilder client, IConfiguration configuration)
    {
        ArgumentNullException.ThrowIfNull(client);
        ArgumentNullException.ThrowIfNull(configuration);
        if (!client.Services.AddOnce(nameof(AddGranaryClientCredentials)))
        {
            return client;
        }

        var options = ValidatedOptions.Bind<ClientCredentialOptions, ClientCredentialOptionsValidator>(
            client.Services, configuration, ClientCredentialOptions.SectionName);
        if (options.ResolveToken() is { } token)
        {
            client.Services.AddSingleton<IOutgoingGrainCallFilter>(new ClientCredentialFilter(token));
        }
        else if (options.LoadCertificate() is { } certificate)
        {
            client.Services.AddSingleton<IOutgoingGrainCallFilter>(sp => new ClientCertificateCredentialFilter(
                certificate, sp.GetRequiredService<IOptions<ClusterOptions>>().Value.ClusterId, sp.GetService<TimeProvider>() ?? TimeProvider.System));
        }

        return client;
    }
}
