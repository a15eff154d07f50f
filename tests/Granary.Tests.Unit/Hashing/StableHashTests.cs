using System.IO.Hashing;
using System.Text;
using Granary.Hashing;

namespace Granary.Tests.Unit.Hashing;

public sealed class StableHashTests
{
    // Pinned values: if any of these change, every key in every deployed ring moves.
    [Theory]
    [InlineData("", 0x2D06800538D394C2UL)] // The published XXH3-64 value for empty input, seed 0.
    [InlineData("user:42", 0x9FC1E605FA7174AAUL)]
    [InlineData("granary", 0x07FB2BC11D75B01AUL)]
    [InlineData("ключ", 0x9A137C08C1E55EDEUL)] // Multi-byte UTF-8.
    public void KnownStringsHaveFixedHashes(string key, ulong expected) =>
        Assert.Equal(expected, StableHash.Hash64(key));

    [Fact]
    public void GuidHashIsFixed() =>
        Assert.Equal(0x33695758FF7E581EUL, StableHash.Hash64(new Guid("00112233-4455-6677-8899-aabbccddeeff")));

    [Fact]
    public void StringHashIsTheHashOfItsUtf8Bytes()
    {
        // Lengths around the 512-byte stack buffer limit exercise both code paths.
        for (var length = 150; length <= 200; length++)
        {
            var key = new string('é', length);
            var bytes = Encoding.UTF8.GetBytes(key);
            Assert.Equal(XxHash3.HashToUInt64(bytes), StableHash.Hash64(key));
            Assert.Equal(StableHash.Hash64(bytes), StableHash.Hash64(key));
        }

        var longKey = string.Concat(Enumerable.Repeat("segment/", 1000));
        Assert.Equal(XxHash3.HashToUInt64(Encoding.UTF8.GetBytes(longKey)), StableHash.Hash64(longKey));
    }

    [Fact]
    public void DifferentKeysHashDifferently() =>
        Assert.NotEqual(StableHash.Hash64("user:1"), StableHash.Hash64("user:2"));

    [Fact]
    public void NullKeyThrows() =>
        Assert.Throws<ArgumentNullException>(() => StableHash.Hash64((string)null!));
}
