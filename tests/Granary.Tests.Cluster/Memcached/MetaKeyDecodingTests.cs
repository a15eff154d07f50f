using Granary.Server.Memcached;

namespace Granary.Tests.Cluster.Memcached;

/// <summary>Base64 keys (the meta commands' b flag) decoded as memcached 1.6 decodes them.</summary>
public sealed class MetaKeyDecodingTests
{
    [Theory]
    [InlineData("Zm9v", "foo")]
    [InlineData("Zm9vYg==", "foob")]
    [InlineData("Zm9vYmE=", "fooba")]
    [InlineData("Z*m.9v", "foo")] // characters outside the alphabet are skipped
    [InlineData("Zg==Zm9v", "f")] // decoding stops after the first group with padding
    [InlineData("/w==", "\u00ff")] // bytes come back one char per byte
    public void A_base64_key_decodes_to_its_bytes(string sent, string bytes) => Assert.Equal(bytes, MetaParser.DecodeKey(sent));

    [Theory]
    [InlineData("Zm9")] // not a whole group of four
    [InlineData("Zm9v=")]
    [InlineData("====")] // three pads or more
    [InlineData("***")] // nothing to decode
    public void A_key_that_is_not_base64_is_refused(string sent) => Assert.Null(MetaParser.DecodeKey(sent));

    [Theory]
    [InlineData(3, 2, false, 1, 64)]
    [InlineData(6, 600, false, 10, 665)] // as memcached 1.6.18 answered me for these items
    [InlineData(6, 600, true, 10, 669)]
    [InlineData(10, 600_000, false, 39, 600_069)] // stored in chunks: the largest class, as memcached answered too
    public void Me_reports_memcached_s_default_slab_class_and_item_size(int keyBytes, int valueBytes, bool flags, int slab, long size) =>
        Assert.Equal((slab, size), MetaParser.SlabOf(keyBytes, valueBytes, flags));
}
