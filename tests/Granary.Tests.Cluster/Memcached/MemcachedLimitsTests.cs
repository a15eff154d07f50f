using System.Diagnostics;
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

    /// <summary>How long a silent connection is kept.</summary>
    public static readonly TimeSpan IdleTimeout = TimeSpan.FromSeconds(2);

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
    private static readonly TimeSpan Deadline = TimeSpan.FromSeconds(30);

    [Fact]
    public async Task One_connection_beyond_max_connections_is_refused_with_memcacheds_text_and_the_others_go_on()
    {
        var held = new List<MemcachedWire>();
        try
        {
            for (var i = 0; i < MemcachedLimitsFixture.MaxConnections; i++)
            {
                held.Add(await ServedConnectionAsync());
            }

            await using (var extra = await MemcachedWire.ConnectAsync(limits.Port))
            {
                var (closed, text) = await extra.ReadUntilClosedAsync();
                Assert.True(closed, "the refused connection should be closed");
                Assert.Equal("ERROR Too many open connections\r\n", text);
            }

            foreach (var wire in held)
            {
                Assert.Equal("STORED\r\n", await wire.CallTextAsync("set held 0 0 1\r\nx\r\n"));
            }

            // A place freed by a client that leaves is taken by the next one.
            await held[0].DisposeAsync();
            held.RemoveAt(0);
            held.Add(await ServedConnectionAsync());
        }
        finally
        {
            foreach (var wire in held)
            {
                await wire.DisposeAsync();
            }
        }
    }

    [Fact]
    public async Task A_silent_connection_is_closed_after_the_idle_timeout_and_an_active_one_is_not()
    {
        await using var silent = await ServedConnectionAsync();
        var quiet = Stopwatch.StartNew();
        var closedAfter = ClosedAfterAsync(silent, quiet);
        await using var active = await ServedConnectionAsync();

        // Active: a command every third of the timeout, for twice the timeout.
        while (quiet.Elapsed < 2 * MemcachedLimitsFixture.IdleTimeout)
        {
            await Task.Delay(MemcachedLimitsFixture.IdleTimeout / 3);
            Assert.Equal(string.Empty, await active.CallTextAsync(string.Empty));
        }

        // The server's timer starts when it answered, a moment before the client's stopwatch; timers may
        // also fire a tick early: a tenth of the timeout is allowed below it.
        Assert.InRange(await closedAfter, MemcachedLimitsFixture.IdleTimeout * 0.9, Deadline);

        static async Task<TimeSpan> ClosedAfterAsync(MemcachedWire wire, Stopwatch since)
        {
            var (closed, text) = await wire.ReadUntilClosedAsync();
            Assert.True(closed, "the silent connection should be closed");
            Assert.Equal(string.Empty, text);
            return since.Elapsed;
        }
    }

    /// <summary>A connection the endpoint has accepted and served (it answered <c>version</c>).</summary>
    private async Task<MemcachedWire> ServedConnectionAsync()
    {
        using var bound = new CancellationTokenSource(Deadline);
        var wire = await MemcachedWire.ConnectAsync(limits.Port);
        Assert.Equal(string.Empty, await wire.CallTextAsync(string.Empty).WaitAsync(bound.Token));
        return wire;
    }
}
