using System.Globalization;
using Granary.Client.Caching;

namespace Granary.Cli.Scenarios.Caching;

/// <summary><c>memcached-cas</c>: check-and-set on the version read; concurrent read-modify-write loses no update.</summary>
public sealed class MemcachedCasScenario : IScenario
{
    private const int Writers = 20;

    /// <inheritdoc/>
    public string Name => "memcached-cas";

    /// <inheritdoc/>
    public string Title => "Memcached CAS: a write succeeds only on the version it read, so racing updates are never lost";

    /// <inheritdoc/>
    public async Task<bool> RunAsync(ScenarioContext context, CancellationToken cancellationToken)
    {
        ArgumentNullException.ThrowIfNull(context);
        await using var cache = await CacheClient.ConnectAsync(context.Grains, "cas-" + Guid.NewGuid().ToString("N")[..8]);
        await cache.SetAsync("stock:apples", "100");

        var first = await cache.ExecuteAsync(["GETS", "stock:apples"]);
        var version = first.Items![1].Integer.ToString(CultureInfo.InvariantCulture);
        context.Say($"GETS stock:apples -> value {first.Items[0].Text}, version {version}");
        var a = await cache.ExecuteAsync(["CAS", "stock:apples", "99", version]);
        var b = await cache.ExecuteAsync(["CAS", "stock:apples", "98", version]);
        context.Check(a.Text == "STORED" && b.Text == "EXISTS", $"two clients CAS with version {version}: first {a.Text}, second {b.Text} (its update was based on a stale read)");

        // Blind SET loses updates under a race; GETS/CAS retry loops do not.
        var conflicts = 0;
        await Task.WhenAll(Enumerable.Range(0, Writers).Select(async _ =>
        {
            while (true)
            {
                var read = await cache.ExecuteAsync(["GETS", "stock:apples"]);
                var next = (long.Parse(read.Items![0].Text!, CultureInfo.InvariantCulture) - 1).ToString(CultureInfo.InvariantCulture);
                var cas = await cache.ExecuteAsync(["CAS", "stock:apples", next, read.Items[1].Integer.ToString(CultureInfo.InvariantCulture)]);
                if (cas.Text == "STORED")
                {
                    return;
                }

                Interlocked.Increment(ref conflicts);
            }
        }));

        var final = await cache.GetAsync("stock:apples");
        context.Check("conflicts", conflicts, final == (99 - Writers).ToString(CultureInfo.InvariantCulture),
            $"{Writers} concurrent decrements with GETS/CAS: {conflicts} conflicts retried, final stock {final} (expected {99 - Writers}: no update lost)");
        return context.AllHeld;
    }
}
