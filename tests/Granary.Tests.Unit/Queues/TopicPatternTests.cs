using Granary.Queues;

namespace Granary.Tests.Unit.Queues;

public sealed class TopicPatternTests
{
    [Theory]
    [InlineData("order.created", "order.created", true)]
    [InlineData("order.created", "order.deleted", false)]
    [InlineData("order.*", "order.created", true)]
    [InlineData("order.*", "order.created.eu", false)]
    [InlineData("order.*", "order", false)]
    [InlineData("order.#", "order", true)]
    [InlineData("order.#", "order.created.eu", true)]
    [InlineData("#", "anything.at.all", true)]
    [InlineData("#", "", true)]
    [InlineData("*.created.#", "invoice.created", true)]
    [InlineData("*.created.#", "created", false)]
    [InlineData("#.eu", "order.created.eu", true)]
    [InlineData("#.eu", "order.created.us", false)]
    [InlineData("a.#.z", "a.z", true)]
    [InlineData("a.#.z", "a.b.c.z", true)]
    [InlineData("a.#.z", "a.b.c", false)]
    public void MatchesLikeAmqpTopics(string pattern, string key, bool expected) =>
        Assert.Equal(expected, TopicPattern.Matches(pattern, key));
}
