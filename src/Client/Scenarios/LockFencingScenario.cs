using System.Globalization;
using Granary.Client.Locks;
using Granary.Locks;
using Granary.Sdk.Locks;

namespace Granary.Client.Scenarios;

/// <summary>
/// Seed questions 5, 20 and 27 (distributed locks): the seed's timestamp-comparing Redis lock lets
/// a paused client delete someone else's lock and clobber their write; Granary's fenced leases
/// refuse both.
/// </summary>
public sealed class LockFencingScenario : IScenario
{
    /// <inheritdoc/>
    public string Name => "lock-fencing";

    /// <inheritdoc/>
    public string Title => "A paused lock holder: the seed's Redis lock lets it delete another's lock; fenced leases reject its stale write";

    /// <inheritdoc/>
    public async Task<bool> RunAsync(ScenarioContext context, CancellationToken cancellationToken)
    {
        ArgumentNullException.ThrowIfNull(context);
        var seedBroken = RunSeedLock(context);
        var fencedHolds = await RunFencedLeasesAsync(context, cancellationToken);
        return seedBroken && fencedHolds;
    }

    private static bool RunSeedLock(ScenarioContext context)
    {
        context.Say("1. The seed's lock (SET NX EX; release = DEL if the stored second equals the current second),");
        context.Say("   on an in-process stand-in for Redis with a controlled clock, lock timeout 1 s:");
        var redis = new ExpiringStore(new DateTimeOffset(2026, 1, 1, 12, 0, 0, TimeSpan.Zero) + TimeSpan.FromMilliseconds(100));
        var storage = new Dictionary<string, string>(StringComparer.Ordinal) { ["balance"] = "100" };
        var a = new SeedTimestampLock(redis, "my_lock", TimeSpan.FromSeconds(1));
        var b = new SeedTimestampLock(redis, "my_lock", TimeSpan.FromSeconds(1));
        var c = new SeedTimestampLock(redis, "my_lock", TimeSpan.FromSeconds(1));

        var aGot = a.Acquire();
        context.Say(At(redis, $"A acquires: {aGot}; A reads balance=100, then pauses (GC, page fault) for 1.2 s"));
        redis.Advance(TimeSpan.FromSeconds(1.2));
        var bGot = b.Acquire();
        storage["balance"] = "150";
        context.Say(At(redis, $"A's lock expired; B acquires: {bGot}; B writes balance=150"));
        redis.Advance(TimeSpan.FromMilliseconds(300));
        storage["balance"] = "90";
        var aDeleted = a.Release();
        context.Say(At(redis, $"A resumes, writes balance=90 (overwriting B's 150: nothing stops it), then releases: deleted B's lock = {aDeleted}"));
        redis.Advance(TimeSpan.FromMilliseconds(100));
        var cGot = c.Acquire();
        context.Say(At(redis, $"C acquires: {cGot} while B still believes it holds the lock: two holders"));
        redis.Advance(TimeSpan.FromSeconds(1));
        var cReleased = c.Release();
        context.Say(At(redis, $"C releases one second later: {cReleased} (the stored second no longer matches: the lock stays until it expires)"));
        context.Fact("seedDeletedAnothersLock", aDeleted, $"seed lock: A deleted B's lock = {aDeleted}; A's stale write kept = {storage["balance"] == "90"}; two holders at once = {bGot && cGot}");
        return aGot && bGot && aDeleted && cGot && !cReleased;
    }

    private static async Task<bool> RunFencedLeasesAsync(ScenarioContext context, CancellationToken cancellationToken)
    {
        context.Say("2. Granary fenced leases: same story, real lock and resource grains, ttl 1 s.");
        var name = "fencing-demo-" + Guid.NewGuid().ToString("N")[..8];
        var resource = context.Grains.GetGrain<IFencedResourceGrain>(name);
        var paused = new DistributedLocks(context.Grains, new DistributedLockOptions { Owner = "A", AutoRenew = false });
        var other = new DistributedLocks(context.Grains, new DistributedLockOptions { Owner = "B" });
        var ttl = TimeSpan.FromSeconds(1);

        await using var a = await paused.AcquireAsync(name, ttl, TimeSpan.Zero, cancellationToken);
        await resource.WriteAsync(a.Token, "balance=100");
        context.Say(string.Create(CultureInfo.InvariantCulture, $"A acquires with fencing token {a.Token}, writes balance=100, then pauses (stops renewing)"));
        var clock = System.Diagnostics.Stopwatch.StartNew();
        await using var b = await other.AcquireAsync(name, ttl, TimeSpan.FromSeconds(10), cancellationToken);
        context.Say(string.Create(CultureInfo.InvariantCulture, $"A's lease expires; B was queued and is handed the lock by push after {clock.Elapsed.TotalSeconds:F2} s with token {b.Token}"));
        await resource.WriteAsync(b.Token, "balance=150");
        context.Say("B writes balance=150");

        var staleRejected = false;
        try
        {
            await resource.WriteAsync(a.Token, "balance=90");
        }
        catch (StaleTokenException ex)
        {
            staleRejected = true;
            context.Say($"A resumes and writes balance=90 with token {a.Token}: REJECTED ({ex.Code}: highest token seen is {ex.Highest})");
        }

        var releaseRefused = false;
        try
        {
            await context.Grains.GetGrain<ILockGrain>(name).ReleaseAsync("A", a.Token);
        }
        catch (LeaseExpiredException ex)
        {
            releaseRefused = true;
            context.Say($"A releases: refused ({ex.Code}); B's lease is untouched");
        }

        var status = await other.StatusAsync(name);
        var value = (await resource.ReadAsync()).Value;
        var bStillHolds = status.Holders.Count == 1 && status.Holders[0].Owner == "B";
        context.Say($"A's SDK handle reports the loss: LeaseLost fired = {a.IsLost}");
        context.Fact("staleWriteRejected", staleRejected, $"fenced leases: stale write rejected = {staleRejected}; value = {value}; A's release refused = {releaseRefused}; B still the only holder = {bStillHolds}");
        return staleRejected && releaseRefused && bStillHolds && value == "balance=150" && a.IsLost;
    }

    private static string At(ExpiringStore redis, string text) =>
        string.Create(CultureInfo.InvariantCulture, $"  t={redis.Now:HH:mm:ss.fff} (second {redis.UnixSeconds % 100:00}): {text}");
}
