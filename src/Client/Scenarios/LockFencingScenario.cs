using System.Diagnostics;
using System.Globalization;
using Granary.Cli.Locks;
using Granary.Client.Locks;
using Granary.Locks;

namespace Granary.Cli.Scenarios;

/// <summary>
/// Distributed locks: the textbook timestamp-comparing Redis lock lets
/// a paused client delete someone else's lock and clobber their write; Granary's fenced leases
/// refuse both.
/// </summary>
public sealed class LockFencingScenario : IScenario
{
    /// <inheritdoc/>
    public string Name => "lock-fencing";

    /// <inheritdoc/>
    public string Title => "A paused lock holder: a timestamp Redis lock lets it delete another's lock; fenced leases reject its stale write";

    /// <inheritdoc/>
    public async Task<bool> RunAsync(ScenarioContext context, CancellationToken cancellationToken)
    {
        ArgumentNullException.ThrowIfNull(context);
        var timestampLockBroken = RunTimestampLock(context);
        var fencedHolds = await RunFencedLeasesAsync(context, cancellationToken);
        return timestampLockBroken && fencedHolds;
    }

    private static bool RunTimestampLock(ScenarioContext context)
    {
        context.Say("1. A timestamp lock (SET NX EX; release = DEL if the stored second equals the current second),");
        context.Say("   on an in-process stand-in for Redis with a controlled clock, lock timeout 1 s:");
        var redis = new ExpiringStore(new DateTimeOffset(2026, 1, 1, 12, 0, 0, TimeSpan.Zero) + TimeSpan.FromMilliseconds(100));
        var storage = new Dictionary<string, string>(StringComparer.Ordinal) { ["balance"] = "100" };
        var a = new TimestampLock(redis, "my_lock", TimeSpan.FromSeconds(1));
        var b = new TimestampLock(redis, "my_lock", TimeSpan.FromSeconds(1));
        var c = new TimestampLock(redis, "my_lock", TimeSpan.FromSeconds(1));

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
        context.Fact("timestampLockDeletedAnothersLock", aDeleted, $"timestamp lock: A deleted B's lock = {aDeleted}; A's stale write kept = {storage["balance"] == "90"}; two holders at once = {bGot && cGot}");
        return aGot && bGot && aDeleted && cGot && !cReleased;
    }

    private static async Task<bool> RunFencedLeasesAsync(ScenarioContext context, CancellationToken cancellationToken)
    {
        // Long enough that A can acquire and write, and B can queue, before A's lease runs out on a
        // busy machine; the SDK promises A learns of the loss within the ttl plus one renewal
        // interval (a third of the ttl) of sending its request, by its own clock.
        var ttl = TimeSpan.FromSeconds(2);
        var lossBound = ttl + (ttl / 3);
        context.Say(string.Create(CultureInfo.InvariantCulture, $"2. Granary fenced leases: same story, real lock and resource grains, ttl {ttl.TotalSeconds:0.#} s."));
        var name = "fencing-demo-" + Guid.NewGuid().ToString("N")[..8];
        var resource = context.Grains.GetGrain<IFencedResourceGrain>(name);
        var paused = new DistributedLocks(context.Grains, new DistributedLockOptions { Owner = "A", AutoRenew = false });
        var other = new DistributedLocks(context.Grains, new DistributedLockOptions { Owner = "B" });

        // The first calls of a fresh process (code loading, grain activation, storage rows) can take
        // longer than the whole ttl on a busy machine: warm up on another lock and resource first.
        await using (await paused.AcquireAsync(name + "-warm-up", ttl, TimeSpan.Zero, cancellationToken))
        await using (await other.AcquireAsync(name + "-warm-up-b", ttl, TimeSpan.Zero, cancellationToken))
        {
            await context.Grains.GetGrain<IFencedResourceGrain>(name + "-warm-up").WriteAsync(1, "warm-up");
            await other.StatusAsync(name + "-warm-up");
        }

        // Started before A's request: A's lease cannot end earlier than ttl on this clock, and the
        // SDK's loss signal is due no later than lossBound after A's acquire returned.
        var clock = Stopwatch.StartNew();
        await using var a = await paused.AcquireAsync(name, ttl, TimeSpan.Zero, cancellationToken);
        var aAcquiredAt = clock.Elapsed;
        var aLost = new TaskCompletionSource<TimeSpan>(TaskCreationOptions.RunContinuationsAsynchronously);
        using var onLost = a.LeaseLost.Register(() => aLost.TrySetResult(clock.Elapsed));
        await resource.WriteAsync(a.Token, "balance=100");
        var aWroteAt = clock.Elapsed;
        ScenarioContext.Require(aWroteAt < ttl / 2, string.Create(CultureInfo.InvariantCulture, $"A's acquire and first write took {aWroteAt.TotalMilliseconds:F0} ms, too close to its {ttl.TotalSeconds:0.#} s ttl for B to queue behind it (the machine is overloaded)"));
        context.Say(string.Create(CultureInfo.InvariantCulture, $"A acquires with fencing token {a.Token}, writes balance=100, then pauses (stops renewing)"));

        var bAcquire = other.AcquireAsync(name, ttl, TimeSpan.FromSeconds(10), cancellationToken);
        await ScenarioContext.WaitUntilAsync("B queueing behind A", ttl, async () =>
        {
            ScenarioContext.Require(!bAcquire.IsCompleted, "B's acquire ended before B was seen in the lock's queue behind A");
            return (await other.StatusAsync(name)).Waiters.Any(w => w.Owner == "B");
        }, cancellationToken);
        await using var b = await bAcquire;
        var bGrantedAt = clock.Elapsed;
        var afterExpiry = b.Lease.GrantedAt - a.Lease.ExpiresAt;
        ScenarioContext.Require(b.Token > a.Token, $"B's token {b.Token} is not above A's {a.Token}");
        ScenarioContext.Require(afterExpiry >= TimeSpan.Zero, string.Create(CultureInfo.InvariantCulture, $"B was granted {-afterExpiry.TotalMilliseconds:F0} ms before A's lease expired"));
        context.Say(string.Create(CultureInfo.InvariantCulture, $"B queues behind A; A's lease expires and B is handed the lock {afterExpiry.TotalMilliseconds:F0} ms later (lock's clock) with token {b.Token}"));
        await resource.WriteAsync(b.Token, "balance=150");
        context.Say("B writes balance=150");

        var stale = await TryAsync<StaleTokenException>(() => resource.WriteAsync(a.Token, "balance=90"));
        ScenarioContext.Require(stale is not null, $"A's write with stale token {a.Token} was accepted");
        ScenarioContext.Require(stale!.Highest == b.Token, $"the resource's highest token is {stale.Highest}, not B's {b.Token}");
        context.Say($"A resumes and writes balance=90 with token {a.Token}: REJECTED ({stale.Code}: highest token seen is {stale.Highest})");

        var refused = await TryAsync<LeaseExpiredException>(() => context.Grains.GetGrain<ILockGrain>(name).ReleaseAsync("A", a.Token));
        ScenarioContext.Require(refused is not null, "A's release of its expired lease was not refused");
        var status = await other.StatusAsync(name);
        ScenarioContext.Require(status.Holders.Count == 1 && status.Holders[0].Token == b.Token, $"after A's release the holders are [{string.Join(", ", status.Holders.Select(h => $"{h.Owner}:{h.Token}"))}], not B alone");
        context.Say($"A releases: refused ({refused!.Code}); B's lease is untouched");

        // Wait for the signal up to the SDK's bound rather than sampling it: the bound is what the
        // handle promises, and B's grant may reach us before A's renewal timer next ticks.
        var due = aAcquiredAt + lossBound - clock.Elapsed;
        var lostAt = await aLost.Task.WaitAsync(due > TimeSpan.Zero ? due : TimeSpan.Zero, cancellationToken).ContinueWith(t => t.IsCompletedSuccessfully ? t.Result : (TimeSpan?)null, TaskScheduler.Default);
        ScenarioContext.Require(lostAt is not null, string.Create(CultureInfo.InvariantCulture, $"A's handle did not signal LeaseLost within {lossBound.TotalMilliseconds:F0} ms of its acquire (the ttl plus one renewal interval)"));
        // The handle counts its lease from when it sent the request, minus the time the lock took to
        // answer: it errs early (by at most that round trip, aAcquiredAt here), never late.
        var earliest = ttl - aAcquiredAt;
        ScenarioContext.Require(lostAt >= earliest, string.Create(CultureInfo.InvariantCulture, $"A's handle signalled LeaseLost at {lostAt!.Value.TotalMilliseconds:F0} ms, more than its acquire's round trip ({aAcquiredAt.TotalMilliseconds:F0} ms) before its lease's nominal expiry at {ttl.TotalMilliseconds:F0} ms"));
        context.Say(string.Create(CultureInfo.InvariantCulture, $"A's SDK handle signals LeaseLost {(lostAt.Value - ttl).TotalMilliseconds:+0;-0;0} ms from its lease's nominal expiry (allowed: from -{aAcquiredAt.TotalMilliseconds:F0} ms, the acquire's round trip, counted conservatively, to +{(ttl / 3).TotalMilliseconds:F0} ms, one renewal interval), {(lostAt.Value - bGrantedAt).TotalMilliseconds:F0} ms from B's grant reaching B"));

        var value = (await resource.ReadAsync()).Value;
        ScenarioContext.Require(value == "balance=150", $"the resource holds {value}, not B's balance=150");
        context.Fact("staleWriteRejected", true, $"fenced leases: stale write rejected = True; value = {value}; A's release refused = True; B still the only holder = True; A's LeaseLost fired = {a.IsLost}");
        return true;
    }

    private static async Task<TException?> TryAsync<TException>(Func<Task> call)
        where TException : Exception
    {
        try
        {
            await call();
            return null;
        }
        catch (TException ex)
        {
            return ex;
        }
    }

    private static string At(ExpiringStore redis, string text) =>
        string.Create(CultureInfo.InvariantCulture, $"  t={redis.Now:HH:mm:ss.fff} (second {redis.UnixSeconds % 100:00}): {text}");
}
