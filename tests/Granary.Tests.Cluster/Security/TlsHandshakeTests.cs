using System.Collections.Concurrent;
using System.Diagnostics;
using System.Diagnostics.Metrics;
using System.Globalization;
using System.Net.Security;
using System.Net.Sockets;
using Granary.Caching;
using Granary.Client;
using Granary.Client.Caching;
using Granary.Client.Security;
using Granary.Server;
using Granary.Server.Security;
using Granary.Tests.Cluster.Infrastructure;
using Microsoft.Extensions.Configuration;
using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.Hosting;
using Microsoft.Extensions.Options;
using Orleans.Connections.Security;
using Xunit.Abstractions;

namespace Granary.Tests.Cluster.Security;

/// <summary>
/// One silo with mutual TLS on (production wiring: <c>AddGranary</c> from configuration, memory
/// storage, localhost clustering on free ports) and a trusted client; the certificates are made by
/// <see cref="TestCertificates"/>. Counts the silo's <c>granary.security.tls_handshake_failures</c>.
/// </summary>
public sealed class TlsSiloFixture : IAsyncLifetime
{
    private readonly ConcurrentDictionary<string, long> _failures = new(StringComparer.Ordinal);
    private MeterListener? _listener;
    private IHost? _silo;

    /// <summary>The certificates.</summary>
    public TestCertificates Certificates { get; } = new();

    /// <summary>The silo port.</summary>
    public int SiloPort { get; } = FreePort.Next();

    /// <summary>The gateway port.</summary>
    public int GatewayPort { get; } = FreePort.Next();

    /// <summary>The cluster id.</summary>
    public string ClusterId { get; } = "tls-" + Guid.NewGuid().ToString("N")[..8];

    /// <summary>A client with the trusted client certificate, connected.</summary>
    public IHost TrustedClient { get; private set; } = null!;

    /// <summary>Failed handshakes the silo counted, by <c>endpoint/reason</c>.</summary>
    public long Failures(string endpoint, string reason) => _failures.GetValueOrDefault(endpoint + "/" + reason);

    /// <summary>All failed handshakes the silo counted.</summary>
    public long AllFailures => _failures.Values.Sum();

    /// <inheritdoc/>
    public async Task InitializeAsync()
    {
        var builder = Host.CreateEmptyApplicationBuilder(new HostApplicationBuilderSettings());
        builder.Configuration.AddInMemoryCollection(Certificates.Settings());
        builder.Configuration.AddInMemoryCollection(new Dictionary<string, string?>
        {
            ["Orleans:ClusterId"] = ClusterId,
            ["Orleans:ServiceId"] = "granary-test",
            ["Granary:Cluster:Mode"] = "Localhost",
            ["Granary:Cluster:SiloPort"] = SiloPort.ToString(CultureInfo.InvariantCulture),
            ["Granary:Cluster:PrimarySiloPort"] = SiloPort.ToString(CultureInfo.InvariantCulture),
            ["Granary:Cluster:GatewayPort"] = GatewayPort.ToString(CultureInfo.InvariantCulture),
            ["Granary:Storage:Mode"] = "Memory",
        });
        builder.UseOrleans(silo => silo.AddGranary(builder.Configuration));
        _silo = builder.Build();
        var metrics = _silo.Services.GetRequiredService<SecurityMetrics>();
        _listener = new MeterListener
        {
            InstrumentPublished = (instrument, listener) =>
            {
                if (ReferenceEquals(instrument, metrics.TlsHandshakeFailures))
                {
                    listener.EnableMeasurementEvents(instrument);
                }
            },
        };
        _listener.SetMeasurementEventCallback<long>((_, value, tags, _) =>
        {
            string? endpoint = null, reason = null;
            foreach (var tag in tags)
            {
                endpoint = tag.Key == "endpoint" ? tag.Value as string : endpoint;
                reason = tag.Key == "reason" ? tag.Value as string : reason;
            }

            _failures.AddOrUpdate(endpoint + "/" + reason, value, (_, n) => n + value);
        });
        _listener.Start();
        await _silo.StartAsync();
        TrustedClient = CreateClient(Certificates.Settings(Certificates.Client));
        await TrustedClient.StartAsync();
    }

    /// <summary>A client of this silo (not started) with the given TLS settings and, optionally, more client wiring.</summary>
    public IHost CreateClient(Dictionary<string, string?> tls, Action<IClientBuilder>? configure = null)
    {
        var builder = Host.CreateEmptyApplicationBuilder(new HostApplicationBuilderSettings());
        builder.Configuration.AddInMemoryCollection(tls);
        builder.Configuration.AddInMemoryCollection(new Dictionary<string, string?>
        {
            ["Orleans:ClusterId"] = ClusterId,
            ["Orleans:ServiceId"] = "granary-test",
            ["Granary:Cluster:Mode"] = "Localhost",
            ["Granary:Cluster:GatewayPort"] = GatewayPort.ToString(CultureInfo.InvariantCulture),
        });
        builder.UseOrleansClient(client =>
        {
            client.UseGranaryClustering(builder.Configuration);

            // One attempt: the refusal surfaces at once instead of after Orleans' retries.
            client.UseConnectionRetryFilter((_, _) => Task.FromResult(false));
            configure?.Invoke(client);
        });
        return builder.Build();
    }

    /// <inheritdoc/>
    public async Task DisposeAsync()
    {
        await StopAsync(TrustedClient);
        await StopAsync(_silo);
        _listener?.Dispose();
        Certificates.Dispose();
    }

    /// <summary>Stops and disposes a host that may not have started.</summary>
    public static async Task StopAsync(IHost? host)
    {
        if (host is null)
        {
            return;
        }

        using var timeout = new CancellationTokenSource(TimeSpan.FromSeconds(10));
        try
        {
            await host.StopAsync(timeout.Token);
        }
        catch (Exception ex) when (ex is OperationCanceledException or ObjectDisposedException)
        {
            // Stopping anyway.
        }

        host.Dispose();
    }
}

/// <summary>
/// Mutual TLS at the gateway and the silo port: a client without a certificate, with one from another
/// CA, a self-signed one, an expired one, or speaking plaintext cannot connect, its write never
/// lands, and the silo counts the refusal with its reason; a trusted client works; a client
/// certificate is refused on the silo port (it cannot pose as a silo).
/// </summary>
public sealed class TlsHandshakeTests(TlsSiloFixture silo, ITestOutputHelper output) : IClassFixture<TlsSiloFixture>
{
    // Orleans keeps retrying a refused gateway (its default retry filter), so the attempt is bounded:
    // a trusted client connects in well under a second here.
    private static readonly TimeSpan ConnectBound = TimeSpan.FromSeconds(5);

    /// <summary>The refused clients: name, expected reason.</summary>
    public static TheoryData<string, string> Refused => new()
    {
        { "no-certificate", TlsHandshakeAudit.HandshakeReason },
        { "plaintext", TlsHandshakeAudit.HandshakeReason },
        { "other-ca", "untrusted" },
        { "self-signed", "untrusted" },
        { "expired", "expired" },
    };

    [Fact]
    public async Task A_trusted_client_connects_and_its_calls_run()
    {
        var cache = await CreateCacheAsync("tls-trusted");
        await cache.SetAsync("k", "v");
        Assert.Equal("v", await cache.GetAsync("k"));
    }

    [Theory]
    [MemberData(nameof(Refused))]
    public async Task A_client_without_a_trusted_certificate_cannot_connect_and_nothing_is_called(string client, string reason)
    {
        var name = "tls-" + client;
        var cache = await CreateCacheAsync(name);
        var before = silo.Failures(TlsTransportExtensions.GatewayEndpoint, reason);
        var host = client switch
        {
            "no-certificate" => silo.CreateClient([], c => c.UseTls(tls =>
            {
                tls.ClientCertificateMode = RemoteCertificateMode.NoCertificate;
                tls.AllowAnyRemoteCertificate();
            })),
            "plaintext" => silo.CreateClient([]),
            "other-ca" => silo.CreateClient(silo.Certificates.Settings(silo.Certificates.OtherCa)),
            "self-signed" => silo.CreateClient(silo.Certificates.Settings(silo.Certificates.SelfSigned)),
            "expired" => silo.CreateClient(silo.Certificates.Settings(silo.Certificates.Expired)),
            _ => throw new ArgumentOutOfRangeException(nameof(client)),
        };
        var clock = Stopwatch.StartNew();
        try
        {
            using var bound = new CancellationTokenSource(ConnectBound);
            var error = await Assert.ThrowsAnyAsync<Exception>(async () =>
            {
                await host.StartAsync(bound.Token);
                var grains = host.Services.GetRequiredService<IGrainFactory>();
                await using var attacker = await CacheClient.ConnectAsync(grains, name);
                await attacker.SetAsync("k", "written by " + client);
            });
            output.WriteLine($"{client}: refused after {clock.ElapsedMilliseconds} ms: {error.GetType().Name}: {error.Message}");
        }
        finally
        {
            await TlsSiloFixture.StopAsync(host);
        }

        Assert.Null(await cache.GetAsync("k"));
        await Eventually.TrueAsync(
            $"the silo counted a refused handshake on the gateway port with reason {reason}",
            () => silo.Failures(TlsTransportExtensions.GatewayEndpoint, reason) > before,
            TimeSpan.FromSeconds(10));
    }

    [Fact]
    public async Task A_client_certificate_is_refused_on_the_silo_port()
    {
        var before = silo.Failures(TlsTransportExtensions.SiloEndpoint, "not-allowed");
        using var certificate = System.Security.Cryptography.X509Certificates.X509Certificate2.CreateFromPemFile(silo.Certificates.Client.CertificateFile, silo.Certificates.Client.KeyFile);
        using var tcp = new TcpClient();
        await tcp.ConnectAsync(System.Net.IPAddress.Loopback, silo.SiloPort);
        await using var tls = new SslStream(tcp.GetStream(), leaveInnerStreamOpen: false, (_, _, _, _) => true);
        var refused = await Assert.ThrowsAnyAsync<Exception>(async () =>
        {
            await tls.AuthenticateAsClientAsync(new SslClientAuthenticationOptions
            {
                TargetHost = "localhost",
                ClientCertificates = [certificate],
            });

            // Under TLS 1.3 the server judges the client's certificate after the client's side of the
            // handshake is done: the refusal arrives as an alert or a closed stream on the first read.
            var read = await tls.ReadAsync(new byte[1]);
            Assert.Fail($"the silo port answered a client certificate with {read} byte(s)");
        });
        output.WriteLine($"refused: {refused.GetType().Name}: {refused.Message}");
        await Eventually.TrueAsync(
            "the silo counted a refused handshake on the silo port with reason not-allowed",
            () => silo.Failures(TlsTransportExtensions.SiloEndpoint, "not-allowed") > before,
            TimeSpan.FromSeconds(10));
    }

    [Fact]
    public void Start_up_refuses_one_CA_for_silos_and_clients_without_pinned_silo_certificates()
    {
        var settings = silo.Certificates.Settings();
        settings.Remove("Granary:Security:Tls:Silos:Thumbprints:0");
        var builder = Host.CreateEmptyApplicationBuilder(new HostApplicationBuilderSettings());
        builder.Configuration.AddInMemoryCollection(settings);
        var error = Assert.Throws<OptionsValidationException>(() => builder.UseOrleans(s => s.AddGranaryTls(builder.Configuration)));
        Assert.Contains("Silos:Thumbprints", error.Message, StringComparison.Ordinal);
    }

    [Fact]
    public void Start_up_refuses_TLS_without_a_certificate_and_names_the_settings()
    {
        var settings = silo.Certificates.Settings();
        settings.Remove("Granary:Security:Tls:CertificateFile");
        settings.Remove("Granary:Security:Tls:KeyFile");
        var builder = Host.CreateEmptyApplicationBuilder(new HostApplicationBuilderSettings());
        builder.Configuration.AddInMemoryCollection(settings);
        var error = Assert.Throws<OptionsValidationException>(() => builder.UseOrleansClient(c => c.UseGranaryTls(builder.Configuration)));
        Assert.Contains("Granary:Security:Tls:CertificateFile", error.Message, StringComparison.Ordinal);
    }

    private async Task<CacheClient> CreateCacheAsync(string name)
    {
        var grains = silo.TrustedClient.Services.GetRequiredService<IGrainFactory>();
        return await CacheClient.CreateAsync(grains, name, 1, new CacheSettings());
    }
}
