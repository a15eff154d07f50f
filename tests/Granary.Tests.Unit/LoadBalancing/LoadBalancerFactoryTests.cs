using Granary.LoadBalancing;

namespace Granary.Tests.Unit.LoadBalancing;

public sealed class LoadBalancerFactoryTests
{
    [Fact]
    public void NamesAreTheDocumentedOnes() =>
        Assert.Equal(
            ["round-robin", "smooth-weighted", "least-connections", "weighted-least-connections", "source-hash", "p2c", "ewma"],
            LoadBalancerFactory.Names);

    [Theory]
    [InlineData("round-robin", BalancingStrategy.RoundRobin, typeof(RoundRobinBalancer))]
    [InlineData("smooth-weighted", BalancingStrategy.SmoothWeighted, typeof(SmoothWeightedRoundRobinBalancer))]
    [InlineData("least-connections", BalancingStrategy.LeastConnections, typeof(LeastConnectionsBalancer))]
    [InlineData("weighted-least-connections", BalancingStrategy.WeightedLeastConnections, typeof(WeightedLeastConnectionsBalancer))]
    [InlineData("source-hash", BalancingStrategy.SourceHash, typeof(SourceHashBalancer))]
    [InlineData("p2c", BalancingStrategy.PowerOfTwoChoices, typeof(PowerOfTwoChoicesBalancer))]
    [InlineData("ewma", BalancingStrategy.Ewma, typeof(EwmaLatencyBalancer))]
    public void EachNameMapsToItsStrategy(string name, BalancingStrategy strategy, Type type)
    {
        Assert.Equal(strategy, LoadBalancerFactory.Parse(name));
        Assert.Equal(name, LoadBalancerFactory.GetName(strategy));
        Assert.IsType(type, LoadBalancerFactory.Create(name));
        Assert.IsType(type, LoadBalancerFactory.Create(strategy));
    }

    [Theory]
    [InlineData("Round-Robin")]
    [InlineData("  round-robin ")]
    [InlineData("ROUND-ROBIN")]
    public void ParsingIgnoresCaseAndSurroundingSpace(string name) =>
        Assert.Equal(BalancingStrategy.RoundRobin, LoadBalancerFactory.Parse(name));

    [Theory]
    [InlineData("random")]
    [InlineData("")]
    [InlineData("RoundRobin")]
    public void UnknownNameThrowsAndListsTheValidOnes(string name)
    {
        var error = Assert.Throws<ArgumentException>(() => LoadBalancerFactory.Create(name));
        Assert.Equal("name", error.ParamName);
        Assert.Contains($"'{name}'", error.Message, StringComparison.Ordinal);
        Assert.All(LoadBalancerFactory.Names, valid => Assert.Contains(valid, error.Message, StringComparison.Ordinal));
        Assert.False(LoadBalancerFactory.TryParse(name, out _));
    }

    [Fact]
    public void NullNameThrows()
    {
        Assert.Throws<ArgumentNullException>(() => LoadBalancerFactory.Parse(null!));
        Assert.False(LoadBalancerFactory.TryParse(null, out _));
    }

    [Fact]
    public void UndefinedStrategyThrows()
    {
        Assert.Throws<ArgumentOutOfRangeException>(() => LoadBalancerFactory.Create((BalancingStrategy)99));
        Assert.Throws<ArgumentOutOfRangeException>(() => LoadBalancerFactory.GetName((BalancingStrategy)99));
    }

    [Fact]
    public void OptionsReachTheStrategies()
    {
        var options = new LoadBalancerOptions { Seed = 5, LatencySmoothing = 0.7, VirtualNodesPerWeight = 40 };

        Assert.Equal(0.7, ((EwmaLatencyBalancer)LoadBalancerFactory.Create("ewma", options)).LatencySmoothing);
        Assert.Equal(40, ((SourceHashBalancer)LoadBalancerFactory.Create("source-hash", options)).VirtualNodesPerWeight);

        var first = LoadBalancerFactory.Create("p2c", options);
        var second = LoadBalancerFactory.Create("p2c", options);
        first.SetMembers(Picks.Members("a", "b", "c", "d"));
        second.SetMembers(Picks.Members("a", "b", "c", "d"));
        Assert.Equal(Picks.Many(first, 100), Picks.Many(second, 100));
    }
}
