using Granary.Locks;

namespace Granary.Tests.Cluster.Time;

/// <summary>
/// A lease's expiry on an in-process cluster whose clock the test moves: the behaviour is time, so
/// the test advances a <see cref="Microsoft.Extensions.Time.Testing.FakeTimeProvider"/> instead of
/// sleeping through a TTL, and the outcome does not depend on how busy the machine is.
/// </summary>
[Collection(FakeClockClusterCollection.Name)]
public sealed class LockExpiryOnFakeClockTests(FakeClockClusterFixture fixture)
{
    private static readonly TimeSpan Ttl = TimeSpan.FromSeconds(30);

    [Fact]
    public async Task An_unrenewed_lease_holds_until_its_ttl_on_the_lock_clock_and_then_the_next_caller_gets_a_higher_token()
    {
        var clock = FakeClockClusterFixture.Clock;
        var grain = fixture.Grains.GetGrain<ILockGrain>("fake-clock-" + Guid.NewGuid().ToString("N"));
        var first = (await grain.AcquireAsync(new AcquireRequest("a", "a-1", Ttl, TimeSpan.Zero))).Lease;
        Assert.NotNull(first);
        Assert.Equal(first.GrantedAt + Ttl, first.ExpiresAt);

        // One second before the expiry by the lock's clock, a still holds the lock: b is refused.
        clock.Advance(first.ExpiresAt - clock.GetUtcNow() - TimeSpan.FromSeconds(1));
        var early = await grain.AcquireAsync(new AcquireRequest("b", "b-1", Ttl, TimeSpan.Zero));
        Assert.Null(early.Lease);
        Assert.Equal(first.Token, Assert.Single((await grain.GetStatusAsync()).Holders).Token);

        // One second after it, the lease is gone without a release, and b gets a higher token.
        clock.Advance(TimeSpan.FromSeconds(2));
        var late = (await grain.AcquireAsync(new AcquireRequest("b", "b-2", Ttl, TimeSpan.Zero))).Lease;
        Assert.NotNull(late);
        Assert.Equal("b", late.Owner);
        Assert.True(late.Token > first.Token, $"token {late.Token} after {first.Token}");
        Assert.True(late.GrantedAt > first.ExpiresAt, $"granted at {late.GrantedAt:O}, a expired at {first.ExpiresAt:O}");
        Assert.Equal(late.Token, Assert.Single((await grain.GetStatusAsync()).Holders).Token);
    }
}
