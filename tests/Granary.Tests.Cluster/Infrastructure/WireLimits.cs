using System.Diagnostics;

namespace Granary.Tests.Cluster.Infrastructure;

/// <summary>
/// The connection-limit and idle-timeout checks every wire-protocol endpoint (RESP, Memcached) must
/// pass, written once; each protocol's test gives its own way to open a served connection, to check
/// that a connection is still served, and to see a refused or closed one.
/// </summary>
/// <typeparam name="TWire">A raw client connection of the protocol.</typeparam>
/// <param name="served">Opens a connection the endpoint has accepted and answered.</param>
/// <param name="stillServed">Asserts that the endpoint still answers on a connection.</param>
/// <param name="closedByServer">Asserts that the server sends exactly the given text (possibly none) and then closes the connection.</param>
public sealed class WireLimits<TWire>(Func<Task<TWire>> served, Func<TWire, Task> stillServed, Func<TWire, string, Task> closedByServer)
    where TWire : IAsyncDisposable
{
    /// <summary>How long any one step may take.</summary>
    public static readonly TimeSpan Deadline = TimeSpan.FromSeconds(30);

    /// <summary>
    /// With <paramref name="maxConnections"/> connections held, one more (opened by <paramref name="connect"/>)
    /// is sent <paramref name="refusal"/> and closed; the held ones go on; a place freed by a client that
    /// leaves is taken by the next one.
    /// </summary>
    public async Task OneBeyondTheLimitIsRefusedAsync(int maxConnections, Func<Task<TWire>> connect, string refusal)
    {
        var held = new List<TWire>();
        try
        {
            for (var i = 0; i < maxConnections; i++)
            {
                held.Add(await served());
            }

            await using (var extra = await connect())
            {
                await closedByServer(extra, refusal);
            }

            foreach (var wire in held)
            {
                await stillServed(wire);
            }

            await held[0].DisposeAsync();
            held.RemoveAt(0);
            held.Add(await served());
        }
        finally
        {
            foreach (var wire in held)
            {
                await wire.DisposeAsync();
            }
        }
    }

    /// <summary>
    /// A silent connection is closed (with nothing sent) after <paramref name="idleTimeout"/>, while one
    /// that sends a command every third of it stays open for twice the timeout.
    /// </summary>
    public async Task SilentIsClosedAndActiveIsNotAsync(TimeSpan idleTimeout)
    {
        await using var silent = await served();
        var quiet = Stopwatch.StartNew();
        var closedAfter = ClosedAfterAsync(silent, quiet);
        await using var active = await served();
        while (quiet.Elapsed < 2 * idleTimeout)
        {
            await Task.Delay(idleTimeout / 3);
            await stillServed(active);
        }

        // The server's timer starts when it answered, a moment before the client's stopwatch; timers may
        // also fire a tick early: a tenth of the timeout is allowed below it.
        Assert.InRange(await closedAfter, idleTimeout * 0.9, Deadline);

        async Task<TimeSpan> ClosedAfterAsync(TWire wire, Stopwatch since)
        {
            await closedByServer(wire, string.Empty);
            return since.Elapsed;
        }
    }
}
