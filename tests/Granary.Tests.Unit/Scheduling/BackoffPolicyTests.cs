using Granary.Scheduling;

namespace Granary.Tests.Unit.Scheduling;

public sealed class BackoffPolicyTests
{
    [Fact]
    public void Ceiling_doubles_from_the_base_and_stops_at_the_cap()
    {
        var policy = new BackoffPolicy(TimeSpan.FromSeconds(1), TimeSpan.FromSeconds(10), jitter: false);

        var schedule = Enumerable.Range(1, 7).Select(r => policy.DelayFor(r, new Random(1)).TotalSeconds).ToArray();

        Assert.Equal([1, 2, 4, 8, 10, 10, 10], schedule);
        Assert.Equal(TimeSpan.FromSeconds(10), policy.CeilingFor(1000));
    }

    [Fact]
    public void Full_jitter_stays_within_zero_and_the_ceiling_and_spreads()
    {
        var policy = new BackoffPolicy(TimeSpan.FromMilliseconds(100), TimeSpan.FromSeconds(30));
        var random = new Random(42);

        for (var retry = 1; retry <= 12; retry++)
        {
            var ceiling = policy.CeilingFor(retry);
            var draws = Enumerable.Range(0, 200).Select(_ => policy.DelayFor(retry, random)).ToList();
            Assert.All(draws, d => Assert.InRange(d, TimeSpan.Zero, ceiling));
            // Full jitter uses the whole range, not a narrow band near the ceiling.
            Assert.True(draws.Min() < ceiling * 0.2 && draws.Max() > ceiling * 0.8, $"retry {retry}: {draws.Min()}..{draws.Max()} of {ceiling}");
        }
    }

    [Fact]
    public void Bad_parameters_are_typed_errors()
    {
        Assert.Equal("backoffBase", Assert.Throws<TaskValidationException>(() => new BackoffPolicy(TimeSpan.Zero, TimeSpan.FromSeconds(1))).Parameter);
        Assert.Equal("backoffCap", Assert.Throws<TaskValidationException>(() => new BackoffPolicy(TimeSpan.FromSeconds(2), TimeSpan.FromSeconds(1))).Parameter);
    }
}
