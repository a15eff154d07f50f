using System.Globalization;
using Granary.Server.Memcached;
using Granary.Tests.Cluster.Infrastructure;
using Microsoft.Extensions.DependencyInjection;
using Orleans.TestingHost;

namespace Granary.Tests.Cluster.Memcached;

/// <summary>One silo whose Memcached endpoint has small limits: few connections and a short idle timeout.</summary>
public sealed class MemcachedLimitsFixture : GranaryTestClusterFixture
{
    /// <summary>Most connections at once.</summary>
    public const int MaxConnections = 2;

    /// <summary>How long a silent connection is kept (the active connection of the idle test sends every third of it, so a pause of the machine must last more than two thirds of it to close that one).</summary>
    public static readonly TimeSpan IdleTimeout = TimeSpan.FromSeconds(4);

    /// <summary>The silo's Memcached port.</summary>
    public int Port => Cluster.Silos.OfType<InProcessSiloHandle>().Single().SiloHost.Services.GetRequiredService<MemcachedEndpoint>().LocalEndPoint!.Port;

    /// <inheritdoc/>
    protected override short InitialSilos => 1;

    /// <inheritdoc/>
    protected override Task ConfigureAsync(TestClusterBuilder builder)
    {
        ArgumentNullException.ThrowIfNull(builder);
        builder.Properties["Granary:Storage:Mode"] = "Memory";
        builder.Properties["Granary:Memcached:Port"] = "0";
        builder.Properties["Granary:Memcached:MaxConnections"] = MaxConnections.ToString(CultureInfo.InvariantCulture);
        builder.Properties["Granary:Memcached:IdleTimeout"] = IdleTimeout.ToString("c", CultureInfo.InvariantCulture);
        return Task.CompletedTask;
    }
}

/// <summary>The Memcached endpoint's connection limit and idle timeout, with memcached's refusal text.</summary>
public sealed class MemcachedLimitsTests(MemcachedLimitsFixture limits) : IClassFixture<MemcachedLimitsFixture>
{
    private WireLimits<MemcachedWire> Limits => new(ServedConnectionAsync, StillServedAsync, ClosedByServerAsync);

    [Fact]
    public Task One_connection_beyond_max_connections_is_refused_with_memcacheds_text_and_the_others_go_on() =>
        Limits.OneBeyondTheLimitIsRefusedAsync(MemcachedLimitsFixture.MaxConnections, () => MemcachedWire.ConnectAsync(limits.Port), "ERROR Too many open connections\r\n");

    [Fact]
    public Task A_silent_connection_is_closed_after_the_idle_timeout_and_an_active_one_is_not() =>
        Limits.SilentIsClosedAndActiveIsNotAsync(MemcachedLimitsFixture.IdleTimeout);

    private static async Task StillServedAsync(MemcachedWire wire) => Assert.Equal("STORED\r\n", await wire.CallTextAsync("set held 0 0 1\r\nx\r\n"));

    private static async Task ClosedByServerAsync(MemcachedWire wire, string expected)
    {
        var (closed, text) = await wire.ReadUntilClosedAsync();
        Assert.True(closed, "the server should have closed the connection");
        Assert.Equal(expected, text);
    }

    /// <summary>A connection the endpoint serves (it answered <c>version</c>; a place may take a moment to free after a client leaves).</summary>
    private async Task<MemcachedWire> ServedConnectionAsync() =>
        await Eventually.ValueAsync(
            "a Memcached connection is served",
            async () =>
            {
                var wire = await MemcachedWire.ConnectAsync(limits.Port);
                try
                {
                    if (await wire.CallTextAsync(string.Empty) == string.Empty)
                    {
                        return wire;
                    }
                }
                catch (IOException)
                {
                    // Refused: the place of a client that left is not free yet.
                }

                await wire.DisposeAsync();
                return null;
            },
            wire => wire is not null,
            WireLimits<MemcachedWire>.Deadline) ?? throw new InvalidOperationException("unreachable");
}
