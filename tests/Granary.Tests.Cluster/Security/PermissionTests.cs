using System.Diagnostics.Metrics;
using System.Reflection;
using System.Security.Cryptography.X509Certificates;
using Granary.Caching;
using Granary.Client;
using Granary.Client.Security;
using Granary.Diagnostics;
using Granary.Documents;
using Granary.Errors;
using Granary.Locks;
using Granary.Queues;
using Granary.Scheduling;
using Granary.Security;
using Granary.Server;
using Granary.Server.Security;
using Granary.Transactions;
using Microsoft.Extensions.Configuration;
using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.Hosting;
using Orleans.Concurrency;
using Xunit.Abstractions;
using QueueGrain = Granary.Queues.IQueueGrain;

namespace Granary.Tests.Cluster.Security;

/// <summary>
/// Identities and permissions on a cluster: every permission is refused to an identity holding every
/// other one and allowed to an identity holding only it; a call without a credential or with an
/// unknown token is refused as unauthenticated; nothing reaches the grain then; grain code never sees
/// a credential; admin calls and refusals are counted.
/// </summary>
public sealed class PermissionTests(IdentityClusterFixture fixture, ITestOutputHelper output) : IClassFixture<IdentityClusterFixture>
{
    /// <summary>One call per permission (the permission is the method's, read from the contracts).</summary>
    private static readonly PermissionCase[] Cases =
    [
        new("cache GET", Method<ICacheShardGrain>(nameof(ICacheShardGrain.ExecuteAsync)), (g, k) => g.GetGrain<ICacheShardGrain>(CacheDefinition.ShardKey(k, 0)).ExecuteAsync(new[] { new[] { "GET", "k" } }.AsImmutable(), 0), Permission.CacheRead),
        new("cache SET", Method<ICacheShardGrain>(nameof(ICacheShardGrain.ExecuteAsync)), (g, k) => g.GetGrain<ICacheShardGrain>(CacheDefinition.ShardKey(k, 0)).ExecuteAsync(new[] { new[] { "SET", "k", "v" } }.AsImmutable(), 0), Permission.CacheWrite),
        new("cache create", Method<ICacheDefinitionGrain>(nameof(ICacheDefinitionGrain.CreateAsync)), (g, k) => g.GetGrain<ICacheDefinitionGrain>(k).CreateAsync(1, CacheSettings.Default)),
        new("queue enqueue", Method<IQueuePartitionGrain>(nameof(IQueuePartitionGrain.EnqueueAsync)), (g, k) => g.GetGrain<IQueuePartitionGrain>(QueuePlacement.PartitionKey(k, 0)).EnqueueAsync([new QueueMessageInput([1])])),
        new("queue stats", Method<QueueGrain>(nameof(QueueGrain.GetStatsAsync)), (g, k) => g.GetGrain<QueueGrain>(k).GetStatsAsync()),
        new("queue dlq purge", Method<QueueGrain>(nameof(QueueGrain.PurgeDeadLettersAsync)), (g, k) => g.GetGrain<QueueGrain>(k).PurgeDeadLettersAsync()),
        new("lock status", Method<ILockGrain>(nameof(ILockGrain.GetStatusAsync)), (g, k) => g.GetGrain<ILockGrain>(k).GetStatusAsync()),
        new("3pc status", Method<IThreePhaseCommitCoordinatorGrain>(nameof(IThreePhaseCommitCoordinatorGrain.GetStatusAsync)), (g, k) => g.GetGrain<IThreePhaseCommitCoordinatorGrain>(k).GetStatusAsync()),
        new("account open", Method<IAccountGrain>(nameof(IAccountGrain.OpenAsync)), (g, k) => g.GetGrain<IAccountGrain>(k).OpenAsync(100)),
        new("task get", Method<ITaskGrain>(nameof(ITaskGrain.GetAsync)), (g, k) => g.GetGrain<ITaskGrain>(k).GetAsync()),
        new("task cancel", Method<ITaskGrain>(nameof(ITaskGrain.CancelAsync)), (g, k) => g.GetGrain<ITaskGrain>(k).CancelAsync()),
        new("worker info", Method<IWorkerGrain>(nameof(IWorkerGrain.GetInfoAsync)), (g, k) => g.GetGrain<IWorkerGrain>(k).GetInfoAsync()),
        new("cluster stats", Method<IClusterStatsGrain>(nameof(IClusterStatsGrain.GetAsync)), (g, _) => g.GetGrain<IClusterStatsGrain>(IClusterStatsGrain.Key).GetAsync()),
        new("document get", Method<IDocumentGrain>(nameof(IDocumentGrain.GetAsync)), (g, k) => g.GetGrain<IDocumentGrain>(k).GetAsync()),
        new("document put", Method<IDocumentGrain>(nameof(IDocumentGrain.PutAsync)), (g, k) => g.GetGrain<IDocumentGrain>(k).PutAsync("v")),
    ];

    /// <summary>The cases whose permission is known (every one once the contracts are marked).</summary>
    public static TheoryData<string> CheckedCases()
    {
        var data = new TheoryData<string>();
        foreach (var c in Cases.Where(c => c.Needs is not null))
        {
            data.Add(c.Name);
        }

        return data;
    }

    [Fact]
    public void Every_permission_a_method_needs_has_a_case()
    {
        var needed = typeof(ICacheShardGrain).Assembly.GetTypes()
            .Where(t => t.IsInterface && typeof(IAddressable).IsAssignableFrom(t))
            .SelectMany(t => t.GetMethods())
            .Select(TestPermissions.Of)
            .OfType<Permission>()
            .Where(p => p != Permission.Internal)
            .ToHashSet();
        var covered = Cases.Select(c => c.Needs).OfType<Permission>().ToHashSet();

        Assert.Empty(needed.Except(covered).Select(PermissionNames.NameOf));
        Assert.Contains(Permission.CacheRead, covered);
        Assert.Contains(Permission.CacheWrite, covered);
    }

    [Theory]
    [MemberData(nameof(CheckedCases))]
    public async Task A_call_is_refused_without_its_permission_and_allowed_with_it(string name)
    {
        var c = Cases.Single(x => x.Name == name);
        var needs = c.Needs!.Value;
        var key = "perm-" + Guid.NewGuid().ToString("N")[..8];

        var refused = await Assert.ThrowsAsync<PermissionDeniedException>(() => IdentityClusterFixture.As(fixture.TokenOf(IdentityClusterFixture.AllBut(needs)), () => Run(c, key)));
        Assert.Equal(ErrorCodes.PermissionDenied, refused.Code);
        Assert.Equal(needs, refused.Permission);
        Assert.Contains(c.Method.Name, refused.Method, StringComparison.Ordinal);
        Assert.Contains(IdentityClusterFixture.AllBut(needs), refused.Message, StringComparison.Ordinal);
        Assert.Contains(PermissionNames.NameOf(needs), refused.Message, StringComparison.Ordinal);

        var outcome = await Outcome(() => IdentityClusterFixture.As(fixture.TokenOf(IdentityClusterFixture.Only(needs)), () => Run(c, key)));
        output.WriteLine($"{name} needs {PermissionNames.NameOf(needs)}; with it: {outcome}");
        Assert.False(outcome.StartsWith(nameof(PermissionDeniedException), StringComparison.Ordinal), $"allowed identity was refused: {outcome}");
    }

    [Fact]
    public async Task A_call_without_a_credential_is_unauthenticated_and_runs_nothing()
    {
        var name = "anon-" + Guid.NewGuid().ToString("N")[..8];
        var definition = fixture.Grains.GetGrain<ICacheDefinitionGrain>(name);

        var refused = await Assert.ThrowsAsync<PermissionDeniedException>(() => definition.CreateAsync(2, CacheSettings.Default));

        Assert.Equal(ErrorCodes.Unauthenticated, refused.Code);
        Assert.Equal(TestPermissions.Of(Method<ICacheDefinitionGrain>(nameof(ICacheDefinitionGrain.CreateAsync))), refused.Permission);
        Assert.Null(await IdentityClusterFixture.As(fixture.TokenOf(IdentityClusterFixture.Operator), () => definition.PeekAsync()));
    }

    [Fact]
    public async Task An_unknown_token_is_unauthenticated_and_is_not_echoed()
    {
        var forged = fixture.TokenOf(IdentityClusterFixture.Operator)[..^1] + "x";
        var locks = fixture.Grains.GetGrain<ILockGrain>("forged-" + Guid.NewGuid().ToString("N")[..8]);

        var refused = await Assert.ThrowsAsync<PermissionDeniedException>(() => IdentityClusterFixture.As(forged, () => locks.GetStatusAsync()));

        Assert.Equal(ErrorCodes.Unauthenticated, refused.Code);
        Assert.DoesNotContain(forged, refused.Message, StringComparison.Ordinal);
    }

    [Fact]
    public async Task A_cache_batch_needs_read_for_its_reads_and_write_for_its_writes()
    {
        var shard = fixture.Grains.GetGrain<ICacheShardGrain>(CacheDefinition.ShardKey("mixed-" + Guid.NewGuid().ToString("N")[..8], 0));
        var mixed = new[] { new[] { "SET", "k", "v" }, new[] { "GET", "k" } }.AsImmutable();

        var readerRefused = await Assert.ThrowsAsync<PermissionDeniedException>(() =>
            IdentityClusterFixture.As(fixture.TokenOf(IdentityClusterFixture.Only(Permission.CacheRead)), () => shard.ExecuteAsync(mixed, 0)));
        var writerRefused = await Assert.ThrowsAsync<PermissionDeniedException>(() =>
            IdentityClusterFixture.As(fixture.TokenOf(IdentityClusterFixture.Only(Permission.CacheWrite)), () => shard.ExecuteAsync(mixed, 0)));
        var unknown = await Assert.ThrowsAsync<PermissionDeniedException>(() =>
            IdentityClusterFixture.As(fixture.TokenOf(IdentityClusterFixture.Only(Permission.CacheRead)), () => shard.ExecuteAsync(new[] { new[] { "NOSUCHCOMMAND", "k" } }.AsImmutable(), 0)));

        Assert.Equal(Permission.CacheWrite, readerRefused.Permission);
        Assert.Equal(Permission.CacheRead, writerRefused.Permission);
        Assert.Equal(Permission.CacheWrite, unknown.Permission);
    }

    [Fact]
    public async Task Grain_code_never_sees_a_client_credential()
    {
        var before = fixture.Probe.Calls;
        var name = "probe-" + Guid.NewGuid().ToString("N")[..8];
        var token = fixture.TokenOf(IdentityClusterFixture.Operator);

        // Creating a cache calls the shards from the definition grain: the credential must not travel on.
        await IdentityClusterFixture.As(token, () => fixture.Grains.GetGrain<ICacheDefinitionGrain>(name).CreateAsync(2, CacheSettings.Default));
        await IdentityClusterFixture.As(token, () => fixture.Grains.GetGrain<ICacheShardGrain>(CacheDefinition.ShardKey(name, 0)).ExecuteAsync(new[] { new[] { "SET", "k", "v" } }.AsImmutable(), 1));

        Assert.True(fixture.Probe.Calls > before, "the probe saw no call");
        Assert.True(fixture.Probe.Leaks.IsEmpty, "grain code saw a credential in: " + string.Join(", ", fixture.Probe.Leaks));
    }

    [Fact]
    public async Task Admin_calls_and_refusals_are_counted()
    {
        var admin = 0L;
        var denied = 0L;
        using var listener = new MeterListener();
        listener.InstrumentPublished = (instrument, l) =>
        {
            if (instrument.Meter.Name == SecurityMetrics.MeterName)
            {
                l.EnableMeasurementEvents(instrument);
            }
        };
        listener.SetMeasurementEventCallback<long>((instrument, value, tags, _) =>
        {
            var t = tags.ToArray();
            if (instrument.Name == "granary.security.admin_commands" && t.Any(x => x.Key == "identity" && Equals(x.Value, fixture.Auditor)))
            {
                Interlocked.Add(ref admin, value);
            }
            else if (instrument.Name == "granary.security.denied_calls" && t.Any(x => x.Key == "reason" && Equals(x.Value, ErrorCodes.Unauthenticated)) && t.Any(x => x.Key == "method" && x.Value is string m && m.Contains(nameof(QueueGrain.PurgeDeadLettersAsync), StringComparison.Ordinal)))
            {
                Interlocked.Add(ref denied, value);
            }
        });
        listener.Start();
        var queue = fixture.Grains.GetGrain<QueueGrain>("audit-" + Guid.NewGuid().ToString("N")[..8]);
        var token = fixture.TokenOf(fixture.Auditor);

        await Outcome(() => IdentityClusterFixture.As(token, () => queue.PurgeDeadLettersAsync()));
        await Outcome(() => IdentityClusterFixture.As(token, () => queue.PurgeDeadLettersAsync()));
        await Outcome(() => IdentityClusterFixture.As(token, () => queue.GetStatsAsync()));
        for (var i = 0; i < 3; i++)
        {
            await Assert.ThrowsAsync<PermissionDeniedException>(() => queue.PurgeDeadLettersAsync());
        }

        Assert.Equal(2, Interlocked.Read(ref admin));
        Assert.True(Interlocked.Read(ref denied) >= 3, $"denied calls counted: {Interlocked.Read(ref denied)}");
    }

    [Fact]
    public async Task A_client_configured_with_a_token_file_is_its_identity_and_one_without_is_refused()
    {
        var gateway = (fixture.Cluster.Primary?.GatewayAddress ?? throw new InvalidOperationException("no gateway")).Endpoint.Port;
        var name = "client-" + Guid.NewGuid().ToString("N")[..8];
        using var withToken = await StartClientAsync(gateway, fixture.OperatorTokenFile);
        using var withoutToken = await StartClientAsync(gateway, tokenFile: null);

        var created = await withToken.Services.GetRequiredService<IClusterClient>().GetGrain<ICacheDefinitionGrain>(name).CreateAsync(1, CacheSettings.Default);
        var refused = await Assert.ThrowsAsync<PermissionDeniedException>(() =>
            withoutToken.Services.GetRequiredService<IClusterClient>().GetGrain<ICacheDefinitionGrain>(name).GetAsync());

        Assert.Equal(1, created.Shards);
        Assert.Equal(ErrorCodes.Unauthenticated, refused.Code);
        await withToken.StopAsync();
        await withoutToken.StopAsync();
    }

    [Fact]
    public async Task A_trusted_or_pinned_client_certificate_with_a_fresh_assertion_is_its_identity()
    {
        var locks = fixture.Grains.GetGrain<ILockGrain>("cert-" + Guid.NewGuid().ToString("N")[..8]);
        var definition = fixture.Grains.GetGrain<ICacheDefinitionGrain>("cert-" + Guid.NewGuid().ToString("N")[..8]);
        var cluster = fixture.Cluster.Options.ClusterId;
        var trusted = ClientCertificateAssertion.Create(fixture.Certificates.Trusted, cluster, DateTimeOffset.UtcNow);

        await IdentityClusterFixture.WithAssertion(trusted, () => locks.GetStatusAsync());
        await IdentityClusterFixture.WithAssertion(trusted, () => locks.GetStatusAsync());
        await IdentityClusterFixture.WithAssertion(ClientCertificateAssertion.Create(fixture.Certificates.Pinned, cluster, DateTimeOffset.UtcNow.AddMinutes(-9)), () => locks.GetStatusAsync());
        var refused = await Assert.ThrowsAsync<PermissionDeniedException>(() => IdentityClusterFixture.WithAssertion(trusted, () => definition.CreateAsync(1, CacheSettings.Default)));

        Assert.Equal(ErrorCodes.PermissionDenied, refused.Code);
        Assert.Contains($"'{IdentityClusterFixture.CertificateUser}'", refused.Message, StringComparison.Ordinal);
    }

    [Theory]
    [InlineData("untrusted", "not issued by the configured CA")]
    [InlineData("expired", "validity period")]
    [InlineData("bad signature", "bad assertion signature")]
    [InlineData("stale", "stale certificate assertion")]
    [InlineData("from the future", "stale certificate assertion")]
    [InlineData("other cluster", "bad assertion signature")]
    [InlineData("malformed", "malformed")]
    public async Task A_client_certificate_assertion_that_does_not_hold_is_unauthenticated(string flaw, string reason)
    {
        var certificates = fixture.Certificates;
        var cluster = fixture.Cluster.Options.ClusterId;
        var now = DateTimeOffset.UtcNow;
        var assertion = flaw switch
        {
            "untrusted" => ClientCertificateAssertion.Create(certificates.Untrusted, cluster, now),
            "expired" => ClientCertificateAssertion.Create(certificates.Expired, cluster, now),
            "bad signature" => Flip(ClientCertificateAssertion.Create(certificates.Trusted, cluster, now)),
            "stale" => ClientCertificateAssertion.Create(certificates.Trusted, cluster, now.AddMinutes(-11)),
            "from the future" => ClientCertificateAssertion.Create(certificates.Trusted, cluster, now.AddMinutes(5)),
            "other cluster" => ClientCertificateAssertion.Create(certificates.Trusted, "another-cluster", now),
            _ => new byte[] { 0, 0, 0, 0, 0, 0, 0, 1, 0, 3, 1, 2, 3, 4 },
        };
        var locks = fixture.Grains.GetGrain<ILockGrain>("bad-cert-" + Guid.NewGuid().ToString("N")[..8]);

        var refused = await Assert.ThrowsAsync<PermissionDeniedException>(() => IdentityClusterFixture.WithAssertion(assertion, () => locks.GetStatusAsync()));

        Assert.Equal(ErrorCodes.Unauthenticated, refused.Code);
        Assert.Contains(reason, refused.Message, StringComparison.Ordinal);
    }

    [Fact]
    public async Task A_client_configured_with_a_certificate_signs_its_calls()
    {
        var gateway = (fixture.Cluster.Primary?.GatewayAddress ?? throw new InvalidOperationException("no gateway")).Endpoint.Port;
        var directory = Directory.CreateTempSubdirectory("granary-client-cert-");
        try
        {
            var certificate = Path.Combine(directory.FullName, "client.pem");
            var key = Path.Combine(directory.FullName, "client.key");
            await File.WriteAllTextAsync(certificate, fixture.Certificates.Trusted.ExportCertificatePem());
            using (var privateKey = fixture.Certificates.Trusted.GetECDsaPrivateKey()!)
            {
                await File.WriteAllTextAsync(key, privateKey.ExportPkcs8PrivateKeyPem());
            }

            using var client = await StartClientAsync(gateway, tokenFile: null, certificate, key);

            var status = await client.Services.GetRequiredService<IClusterClient>().GetGrain<ILockGrain>("signed-" + Guid.NewGuid().ToString("N")[..8]).GetStatusAsync();

            Assert.NotNull(status);
            await client.StopAsync();
        }
        finally
        {
            directory.Delete(recursive: true);
        }
    }

    private static byte[] Flip(byte[] assertion)
    {
        assertion[^1] ^= 0x5a;
        return assertion;
    }

    private async Task<IHost> StartClientAsync(int gatewayPort, string? tokenFile, string? certificateFile = null, string? keyFile = null)
    {
        var builder = Host.CreateApplicationBuilder(new HostApplicationBuilderSettings { DisableDefaults = true });
        builder.Configuration.AddInMemoryCollection(new Dictionary<string, string?>
        {
            ["Granary:Cluster:Mode"] = "Localhost",
            ["Granary:Cluster:ClientGatewayPorts:0"] = gatewayPort.ToString(System.Globalization.CultureInfo.InvariantCulture),
            ["Orleans:ClusterId"] = fixture.Cluster.Options.ClusterId,
            ["Orleans:ServiceId"] = fixture.Cluster.Options.ServiceId,
            ["Granary:Client:TokenFile"] = tokenFile,
            ["Granary:Client:CertificateFile"] = certificateFile,
            ["Granary:Client:CertificateKeyFile"] = keyFile,
        });
        IConfiguration configuration = builder.Configuration;
        builder.UseOrleansClient(client => client.UseGranaryClustering(configuration));
        var host = builder.Build();
        await host.StartAsync();
        return host;
    }

    private static MethodInfo Method<T>(string name) => typeof(T).GetMethod(name) ?? throw new InvalidOperationException($"{typeof(T).Name}.{name} is missing");

    private async Task<bool> Run(PermissionCase c, string key)
    {
        await c.Call(fixture.Grains, key);
        return true;
    }

    /// <summary>What a call ended with: "ok", or the exception's type and message.</summary>
    private static async Task<string> Outcome<T>(Func<Task<T>> call)
    {
        try
        {
            await call();
            return "ok";
        }
        catch (Exception ex) when (ex is not PermissionDeniedException)
        {
            return $"{ex.GetType().Name}: {ex.Message}";
        }
        catch (PermissionDeniedException ex)
        {
            return $"{nameof(PermissionDeniedException)}: {ex.Code}: {ex.Message}";
        }
    }

    private sealed record PermissionCase(string Name, MethodInfo Method, Func<IGrainFactory, string, Task> Call, Permission? Fixed = null)
    {
        /// <summary>The permission the call needs: fixed for cache batches (the check looks at the commands), else the method's.</summary>
        public Permission? Needs => Fixed ?? TestPermissions.Of(Method);
    }
}
