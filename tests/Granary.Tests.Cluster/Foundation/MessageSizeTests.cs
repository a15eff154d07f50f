using System.Diagnostics;
using Granary.Caching;
using Granary.Client.Caching;
using Granary.Tests.Cluster.Infrastructure;
using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.Hosting;
using Orleans.Concurrency;
using Orleans.Configuration;
using Xunit.Abstractions;

namespace Granary.Tests.Cluster.Foundation;

/// <summary>
/// Orleans' message size limit is <see cref="Limits.MaxMessageBytes"/> on silos: a silo refuses a
/// larger frame from a peer configured otherwise before it deserialises it (it reads the frame's
/// length and closes the connection), the request changes nothing, and the silo keeps serving.
/// Over TCP, as production runs (the test cluster's in-memory transport is not used here).
/// </summary>
public sealed class MessageSizeTests(TcpClusterFixture fixture, ITestOutputHelper output) : IClassFixture<TcpClusterFixture>
{
    [Fact]
    public async Task A_silo_refuses_an_oversize_frame_from_a_peer_and_keeps_serving()
    {
        await using var cache = await CacheClient.ConnectAsync(fixture.Grains, "oversize-" + Guid.NewGuid().ToString("N")[..8]);
        await cache.SetAsync("kept", "before");
        var gateway = (fixture.Cluster.Primary?.GatewayAddress ?? throw new InvalidOperationException("the primary silo has no gateway")).Endpoint;

        // A client whose own limit is far above the silo's: nothing stops the frame on its side.
        var builder = Host.CreateEmptyApplicationBuilder(new HostApplicationBuilderSettings());
        builder.UseOrleansClient(client =>
        {
            client.UseStaticClustering(gateway);
            client.Configure<ClusterOptions>(o =>
            {
                o.ClusterId = fixture.Cluster.Options.ClusterId;
                o.ServiceId = fixture.Cluster.Options.ServiceId;
            });
            client.Configure<ClientMessagingOptions>(o =>
            {
                o.MaxMessageBodySize = 4 * Limits.MaxMessageBytes;
                o.ResponseTimeout = TimeSpan.FromSeconds(10);
            });
        });
        using var host = builder.Build();
        await host.StartAsync();
        var foreign = host.Services.GetRequiredService<IClusterClient>();
        var definition = cache.Definition;
        var shard = foreign.GetGrain<ICacheShardGrain>(CacheDefinition.ShardKey(cache.Name, ShardOf(definition, "kept")));
        var clock = Stopwatch.StartNew();

        var error = await Assert.ThrowsAnyAsync<Exception>(() => shard.ExecuteAsync(OversizeBatch("kept").AsImmutable(), definition.Version));

        output.WriteLine($"the foreign client's call failed after {clock.ElapsedMilliseconds} ms: {error.GetType().Name}: {error.Message}");
        Assert.True(clock.Elapsed < TimeSpan.FromSeconds(30), $"the call took {clock.Elapsed}");
        Assert.Equal("before", await cache.GetAsync("kept"));
        await cache.SetAsync("kept", "after");
        Assert.Equal("after", await cache.GetAsync("kept"));
        await host.StopAsync();
    }

    private static int ShardOf(CacheDefinition definition, string key) => definition.BuildMap().ShardOf(key);

    /// <summary>A batch larger than one message may be: 1,000 values of 26,000 three-byte characters (about 78 MB as UTF-8).</summary>
    private static string[][] OversizeBatch(string key) =>
        [.. Enumerable.Range(0, Limits.MaxBatchSize).Select(i => new[] { "SET", key, new string((char)('\u4e00' + (i % 1000)), 26_000) })];
}
