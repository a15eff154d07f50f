using Granary.Client.Locks;
using Granary.Tests.Cluster.Infrastructure;
using Microsoft.Extensions.Time.Testing;
using Xunit.Abstractions;

namespace Granary.Tests.Cluster.Time;

/// <summary>
/// The SDK's one renewal timer per client, on an in-process cluster whose clock (the silo's and the
/// client's) the test moves: the ttls pass in fake time, one timer tick at a time, and after each tick
/// the test waits for the renewals that tick started to be answered. A busy machine then makes the
/// test slower, never a lease lost.
/// </summary>
[Collection(FakeClockClusterCollection.Name)]
public sealed class LeaseRenewalOnFakeClockTests(FakeClockClusterFixture fixture, ITestOutputHelper output)
{
    private static readonly TimeSpan ShortTtl = TimeSpan.FromSeconds(1.5);
    private static readonly TimeSpan LongTtl = TimeSpan.FromSeconds(30);

    /// <summary>The shared timer's period for the shortest ttl held (a twelfth of it).</summary>
    private static readonly TimeSpan Tick = ShortTtl / 12;

    /// <summary>Real time allowed for the renewals of one tick to be answered (a bound, not a wait).</summary>
    private static readonly TimeSpan Settle = TimeSpan.FromSeconds(30);

    [Fact]
    public async Task Leases_of_one_client_with_short_and_long_ttls_are_all_renewed_by_its_shared_timer_until_released()
    {
        var clock = FakeClockClusterFixture.Clock;
        var locks = new DistributedLocks(fixture.Grains, new DistributedLockOptions { Owner = "shared-timer", TimeProvider = clock });
        var leases = new List<LockHandle>();
        foreach (var _ in Enumerable.Range(0, 5))
        {
            leases.Add(await locks.AcquireAsync(NewName(), LongTtl, TimeSpan.Zero));
        }

        foreach (var _ in Enumerable.Range(0, 10))
        {
            leases.Add(await locks.AcquireAsync(NewName(), ShortTtl, TimeSpan.Zero));
        }

        // Three short ttls pass: every lease must outlive them by renewal.
        var start = clock.GetUtcNow();
        await AdvanceAsync(clock, ShortTtl * 3, leases);
        var held = await Task.WhenAll(leases.Select(l => locks.StatusAsync(l.Name)));
        for (var i = 0; i < leases.Count; i++)
        {
            Assert.Equal(leases[i].Token, Assert.Single(held[i].Holders).Token);
        }

        Assert.All(leases.Skip(5), l => Assert.True(l.Lease.ExpiresAt > start + ShortTtl * 3, $"{l.Name} was not renewed: expires at {l.Lease.ExpiresAt:O}"));

        // Release 7 (the 5 long leases and 2 short ones); two more short ttls pass with the other 8 held.
        foreach (var lease in leases.Take(7))
        {
            await lease.DisposeAsync();
        }

        var kept = leases.Skip(7).ToList();
        await AdvanceAsync(clock, ShortTtl * 2, kept);
        var after = await Task.WhenAll(leases.Select(l => locks.StatusAsync(l.Name)));
        output.WriteLine($"{leases.Count} leases, {(clock.GetUtcNow() - start).TotalSeconds:F1} s of fake time in ticks of {Tick.TotalMilliseconds} ms; lost: {kept.Count(l => l.IsLost)} of the {kept.Count} still held");

        Assert.All(leases.Take(7), l => Assert.True(l.IsLost, "a released lease reports itself lost"));
        Assert.All(after.Take(7), s => Assert.Empty(s.Holders));
        Assert.All(kept, l => Assert.False(l.IsLost));
        for (var i = 7; i < leases.Count; i++)
        {
            Assert.Equal(leases[i].Token, Assert.Single(after[i].Holders).Token);
        }

        Assert.All(kept, l => Assert.True(l.Lease.ExpiresAt > start + ShortTtl * 5, $"{l.Name} was not renewed: expires at {l.Lease.ExpiresAt:O}"));
        foreach (var lease in kept)
        {
            await lease.DisposeAsync();
        }
    }

    /// <summary>
    /// Moves <paramref name="clock"/> by <paramref name="span"/>, one timer tick at a time. After each
    /// tick, every lease of <paramref name="held"/> is either lost (the assertions then fail) or has
    /// more than two thirds of its ttl left: a renewal falls due at two thirds left, so this waits for
    /// the renewals the tick started to be answered before the clock moves on.
    /// </summary>
    private static async Task AdvanceAsync(FakeTimeProvider clock, TimeSpan span, IReadOnlyList<LockHandle> held)
    {
        var end = clock.GetUtcNow() + span;
        while (clock.GetUtcNow() < end)
        {
            clock.Advance(Tick);
            await Eventually.TrueAsync(
                "every lease whose renewal fell due renewed",
                () => held.All(l => l.IsLost || l.Lease.ExpiresAt - clock.GetUtcNow() > l.Lease.Ttl * 2 / 3),
                Settle);
        }
    }

    private static string NewName() => "renewal-" + Guid.NewGuid().ToString("N");
}
