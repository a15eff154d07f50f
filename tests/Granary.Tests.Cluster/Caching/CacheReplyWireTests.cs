using Granary.Caching;
using Microsoft.Extensions.DependencyInjection;
using Orleans.Serialization;

namespace Granary.Tests.Cluster.Caching;

/// <summary>A reply crosses the grain boundary through its surrogate: the typed MOVED signal must survive it.</summary>
public sealed class CacheReplyWireTests
{
    private static readonly Serializer Serializer = new ServiceCollection()
        .AddSerializer(builder => builder.AddAssembly(typeof(CacheReplySurrogate).Assembly))
        .BuildServiceProvider()
        .GetRequiredService<Serializer>();

    [Fact]
    public void A_moved_reply_keeps_its_ring_version_and_text_across_the_wire()
    {
        var copy = RoundTrip(CacheReply.Moved(42));
        Assert.True(copy.IsMoved);
        Assert.Equal(42, copy.MovedRingVersion);
        Assert.True(copy.IsError);
        Assert.Equal("MOVED ring version 42", copy.Text);
    }

    [Fact]
    public void Other_replies_are_unchanged_and_not_moved()
    {
        CacheReply[] replies =
        [
            CacheReply.Ok, CacheReply.Nil, CacheReply.NilArray, CacheReply.Int(-5), CacheReply.Bulk("v"),
            CacheReply.Error("MOVED ring version 3"), CacheReply.Array([CacheReply.Bulk("a"), CacheReply.Moved(2)]),
        ];
        foreach (var reply in replies)
        {
            var copy = RoundTrip(reply);
            Assert.Equal(reply, copy);
            Assert.Equal(reply.IsMoved, copy.IsMoved);
        }

        Assert.False(RoundTrip(CacheReply.Error("MOVED ring version 3")).IsMoved);
        Assert.True(RoundTrip(CacheReply.Array([CacheReply.Moved(2)])).Items![0].IsMoved);
    }

    private static CacheReply RoundTrip(CacheReply reply) => Serializer.Deserialize<CacheReply>(Serializer.SerializeToArray(reply))!;
}
