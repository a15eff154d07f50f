using Granary.LoadBalancing;

namespace Granary.Tests.Unit.LoadBalancing;

public sealed class BalancerMemberTests
{
    [Fact]
    public void DefaultsToWeightOne() => Assert.Equal(1, new BalancerMember("a").Weight);

    [Fact]
    public void InvalidValuesThrow()
    {
        Assert.Throws<ArgumentException>(() => new BalancerMember(""));
        Assert.Throws<ArgumentException>(() => new BalancerMember(" "));
        Assert.Throws<ArgumentNullException>(() => new BalancerMember(null!));
        Assert.Throws<ArgumentOutOfRangeException>(() => new BalancerMember("a", 0));
        Assert.Throws<ArgumentOutOfRangeException>(() => new BalancerMember("a", -3));
    }

    [Fact]
    public void WithExpressionsAreValidatedToo()
    {
        var member = new BalancerMember("a", 2);
        Assert.Throws<ArgumentOutOfRangeException>(() => member with { Weight = 0 });
        Assert.Throws<ArgumentException>(() => member with { Id = "" });
        Assert.Equal(new BalancerMember("a", 5), member with { Weight = 5 });
    }

    [Fact]
    public void ContextKeyDefaultsToNull() => Assert.Null(default(BalancerContext).Key);
}
