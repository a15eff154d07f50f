using Granary.Server.Memcached;
using Granary.Tests.Cluster.Infrastructure;
using Microsoft.Extensions.DependencyInjection;
using Orleans.TestingHost;

namespace Granary.Tests.Cluster.Memcached;

/// <summary>
/// One in-process silo with memory storage hosting the Memcached endpoint on a free port (its own
/// cache, so that flush_all touches nobody else), and a real memcached to compare with.
/// </summary>
public sealed class MemcachedClusterFixture : GranaryTestClusterFixture
{
    /// <summary>The cache the endpoint serves.</summary>
    public const string CacheName = "mc-tests";

    /// <summary>Largest value the endpoint accepts (small, so that the limit is cheap to cross).</summary>
    public const int MaxItemSize = 64 * 1024;

    private MemcachedServer? _memcached;

    /// <summary>The endpoint's port.</summary>
    public int Port => Cluster.Silos.OfType<InProcessSiloHandle>().First().SiloHost.Services.GetRequiredService<MemcachedEndpoint>().LocalEndPoint!.Port;

    /// <summary>The real memcached.</summary>
    public MemcachedServer Memcached => _memcached ?? throw new InvalidOperationException("The fixture has not been initialised.");

    /// <summary>Opens a connection to the endpoint.</summary>
    public Task<MemcachedWire> ConnectAsync() => MemcachedWire.ConnectAsync(Port);

    /// <inheritdoc/>
    public override async Task InitializeAsync()
    {
        _memcached = await MemcachedServer.StartAsync();
        await base.InitializeAsync();
    }

    /// <inheritdoc/>
    public override async Task DisposeAsync()
    {
        await base.DisposeAsync();
        if (_memcached is not null)
        {
            await _memcached.DisposeAsync();
        }
    }

    /// <inheritdoc/>
    protected override short InitialSilos => 1;

    /// <inheritdoc/>
    protected override Task ConfigureAsync(TestClusterBuilder builder)
    {
        ArgumentNullException.ThrowIfNull(builder);
        builder.Properties["Granary:Storage:Mode"] = "Memory";
        builder.Properties["Granary:Memcached:Port"] = "0";
        builder.Properties["Granary:Memcached:Cache"] = CacheName;
        builder.Properties["Granary:Memcached:MaxItemSize"] = MaxItemSize.ToString(System.Globalization.CultureInfo.InvariantCulture);
        return Task.CompletedTask;
    }
}
