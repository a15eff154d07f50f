using Granary.Tests.Cluster.Caching;
using Granary.Tests.Cluster.Infrastructure;
using Granary.Tests.Cluster.Locks;
using Xunit.Abstractions;

namespace Granary.Tests.Cluster.Security;

// The SIGKILL tests of two families, unchanged, on silo processes and a client that talk mutual TLS
// (every silo shows the silo certificate; the test's client shows it too, as a trusted peer).

/// <summary><see cref="LockSiloLossTests"/> with mutual TLS on every connection.</summary>
[Collection(ServersCollection.Name)]
public sealed class LockSiloLossWithTlsTests(SharedServersFixture servers, TestCertificates certificates, ITestOutputHelper output)
    : LockSiloLossTests(servers, output), IClassFixture<TestCertificates>
{
    /// <inheritdoc/>
    protected override IEnumerable<KeyValuePair<string, string>> ClusterSettings => certificates.Settings()!;
}

/// <summary><see cref="CacheSiloLossTests"/> with mutual TLS on every connection.</summary>
[Collection(ServersCollection.Name)]
public sealed class CacheSiloLossWithTlsTests(SharedServersFixture servers, TestCertificates certificates, ITestOutputHelper output)
    : CacheSiloLossTests(servers, output), IClassFixture<TestCertificates>
{
    /// <inheritdoc/>
    protected override IEnumerable<KeyValuePair<string, string>> ClusterSettings => certificates.Settings()!;
}
