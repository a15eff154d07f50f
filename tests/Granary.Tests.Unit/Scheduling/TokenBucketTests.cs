using Granary.Scheduling;
using Microsoft.Extensions.Time.Testing;

namespace Granary.Tests.Unit.Scheduling;

public sealed class TokenBucketTests
{
    [Fact]
    public void Burst_then_the_refill_rate()
    {
        var time = new FakeTimeProvider();
        var bucket = new TokenBucket(ratePerSecond: 10, burst: 5, time.GetUtcNow());

        Assert.Equal(5, Enumerable.Range(0, 20).Count(i => bucket.TryTake(time.GetUtcNow(), out var wait)));
        Assert.False(bucket.TryTake(time.GetUtcNow(), out var retryAfter));
        Assert.Equal(TimeSpan.FromMilliseconds(100), retryAfter);

        // Over 10 s of steady demand, about rate * seconds are granted (plus nothing extra).
        var granted = 0;
        for (var ms = 0; ms < 10_000; ms += 10)
        {
            time.Advance(TimeSpan.FromMilliseconds(10));
            while (bucket.TryTake(time.GetUtcNow(), out _))
            {
                granted++;
            }
        }

        Assert.InRange(granted, 99, 100);
    }

    [Fact]
    public void Idle_time_refills_only_up_to_the_burst_and_a_clock_step_back_mints_nothing()
    {
        var time = new FakeTimeProvider();
        var bucket = new TokenBucket(1, 3, time.GetUtcNow());
        for (var i = 0; i < 3; i++)
        {
            Assert.True(bucket.TryTake(time.GetUtcNow(), out _));
        }

        time.Advance(TimeSpan.FromHours(1));
        Assert.Equal(3, bucket.Available(time.GetUtcNow()));
        Assert.Equal(0, bucket.Available(time.GetUtcNow().AddHours(-2)) - 3);
    }

    [Fact]
    public void Bad_parameters_are_typed_errors()
    {
        Assert.Throws<TaskValidationException>(() => new TokenBucket(0, 1, DateTimeOffset.UnixEpoch));
        Assert.Throws<TaskValidationException>(() => new TokenBucket(1, 0, DateTimeOffset.UnixEpoch));
    }
}
