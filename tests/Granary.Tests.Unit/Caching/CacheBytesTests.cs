using System.Text;
using Granary.Caching;
using Granary.Hashing;
using Granary.Text;

namespace Granary.Tests.Unit.Caching;

/// <summary>Byte strings in cache strings: exact round trips, one string per byte string, Redis's byte order, slots and patterns on the bytes.</summary>
public sealed class CacheBytesTests
{
    [Theory]
    [InlineData("plain")]
    [InlineData("")]
    [InlineData("café ☕ 😀")]
    public void Utf8_text_without_nul_is_stored_as_itself(string text)
    {
        var bytes = Encoding.UTF8.GetBytes(text);
        Assert.Equal(text, CacheBytes.FromBytes(bytes));
        Assert.Equal(bytes, CacheBytes.GetBytes(text));
        Assert.Equal(bytes.Length, CacheBytes.ByteCount(text));
        Assert.False(CacheBytes.IsEscaped(text));
    }

    [Fact]
    public void Any_bytes_come_back_exactly_and_no_two_byte_strings_share_a_string()
    {
        var random = new Random(4242);
        var seen = new Dictionary<string, byte[]>(StringComparer.Ordinal);
        foreach (var bytes in Inputs(random, 20_000))
        {
            var stored = CacheBytes.FromBytes(bytes);
            Assert.True(StorableText.IsStorable(stored), Convert.ToHexString(bytes));
            Assert.Equal(bytes, CacheBytes.GetBytes(stored));
            Assert.Equal(bytes.Length, CacheBytes.ByteCount(stored));
            Assert.True(stored.Length <= bytes.Length + 1);
            var buffer = new byte[bytes.Length];
            Assert.Equal(bytes.Length, CacheBytes.GetBytes(stored, buffer));
            Assert.Equal(bytes, buffer);
            Assert.Equal(bytes, CacheBytes.GetBytes(CacheBytes.FromLatin1(Encoding.Latin1.GetString(bytes))));
            if (seen.TryGetValue(stored, out var other))
            {
                Assert.Equal(other, bytes);
            }

            seen[stored] = bytes;
        }

        Assert.Contains(seen.Keys, CacheBytes.IsEscaped); // both kinds were made
        Assert.Contains(seen.Keys, s => !CacheBytes.IsEscaped(s));
    }

    [Fact]
    public void Order_and_concatenation_follow_the_bytes()
    {
        var random = new Random(77);
        var inputs = Inputs(random, 3_000).ToList();
        for (var i = 0; i + 1 < inputs.Count; i++)
        {
            var (x, y) = (inputs[i], inputs[i + 1]);
            var (sx, sy) = (CacheBytes.FromBytes(x), CacheBytes.FromBytes(y));
            Assert.Equal(Math.Sign(x.AsSpan().SequenceCompareTo(y)), Math.Sign(CacheBytes.Compare(sx, sy)));
            Assert.Equal(0, CacheBytes.Compare(sx, sx));
            Assert.Equal([.. x, .. y], CacheBytes.GetBytes(CacheBytes.Concat(sx, sy)));
            Assert.Equal(CacheBytes.FromBytes([.. x, .. y]), CacheBytes.Concat(sx, sy)); // one string per byte string, however made
        }
    }

    [Fact]
    public void Text_above_the_basic_plane_sorts_after_private_use_characters_as_its_utf8_does()
    {
        // UTF-16 ordinal order puts U+1F600 (a surrogate pair) before U+E000; UTF-8, and so Redis, after it.
        Assert.True(string.CompareOrdinal("😀", "\uE000") < 0);
        Assert.True(CacheBytes.Compare("😀", "\uE000") > 0);
        Assert.True(CacheBytes.Compare("a", "ab") < 0);
        Assert.True(CacheBytes.Compare(CacheBytes.FromBytes([0xFF]), "😀") > 0); // F0 9F ... < FF
    }

    [Fact]
    public void A_hash_slot_is_the_crc_of_the_bytes_or_of_their_hash_tag()
    {
        byte[] key = [0xFF, 0x00, (byte)'k'];
        Assert.Equal(HashSlot.Crc16(key) & (HashSlot.Count - 1), HashSlot.Of(CacheBytes.FromBytes(key)));
        byte[] tagged = [0xFE, (byte)'{', (byte)'u', (byte)'1', (byte)'}', 0x01];
        Assert.Equal(HashSlot.Of("u1"), HashSlot.Of(CacheBytes.FromBytes(tagged)));
        byte[] binaryTag = [(byte)'{', 0x80, 0x81, (byte)'}', (byte)'x'];
        Assert.Equal(HashSlot.Crc16([0x80, 0x81]) & (HashSlot.Count - 1), HashSlot.Of(CacheBytes.FromBytes(binaryTag)));
    }

    [Fact]
    public void A_glob_pattern_matches_the_bytes()
    {
        var key = CacheBytes.FromBytes([(byte)'k', 0x00, 0xFF, (byte)'z']);
        Assert.True(GlobPattern.IsMatch("k*z", key));
        Assert.True(GlobPattern.IsMatch("k??z", key));
        Assert.False(GlobPattern.IsMatch("k?z", key));
        Assert.True(GlobPattern.IsMatch(CacheBytes.FromBytes([(byte)'k', 0x00, (byte)'*']), key));
        Assert.False(GlobPattern.IsMatch(CacheBytes.FromBytes([(byte)'k', 0x01, (byte)'*']), key));
    }

    [Fact]
    public void A_reply_of_bytes_prints_as_redis_cli_prints_it()
    {
        Assert.Equal("\"\\xff\\x00z\\\"\\n\"", CacheReply.Bulk(CacheBytes.FromBytes([0xff, 0x00, (byte)'z', (byte)'"', (byte)'\n'])).ToString());
        Assert.Equal("\"café\"", CacheReply.Bulk("café").ToString());
    }

    /// <summary>Random bytes (mostly not UTF-8), text with one odd byte, text that imitates an escaped string, and plain text.</summary>
    private static IEnumerable<byte[]> Inputs(Random random, int count)
    {
        for (var i = 0; i < count; i++)
        {
            var bytes = new byte[random.Next(0, 64)];
            switch (i % 5)
            {
                case 0:
                    random.NextBytes(bytes);
                    break;
                case 1:
                    for (var k = 0; k < bytes.Length; k++)
                    {
                        bytes[k] = (byte)random.Next(0x20, 0x7F);
                    }

                    if (bytes.Length > 0)
                    {
                        bytes[random.Next(bytes.Length)] = random.Next(2) == 0 ? (byte)0 : (byte)random.Next(0x80, 0x100);
                    }

                    break;
                case 2:
                    {
                        var chars = new StringBuilder().Append(CacheBytes.Mark);
                        while (chars.Length < bytes.Length / 2)
                        {
                            chars.Append(random.Next(3) == 0 ? (char)random.Next(0x21, 0x7F) : (char)(0xE000 + random.Next(0x100)));
                        }

                        bytes = Encoding.UTF8.GetBytes(chars.ToString());
                        break;
                    }

                case 3:
                    {
                        var chars = new StringBuilder();
                        while (chars.Length < bytes.Length / 2)
                        {
                            chars.Append(random.Next(4) switch { 0 => "😀", 1 => "\uE0FF", 2 => "é", _ => ((char)random.Next(0x20, 0x7F)).ToString() });
                        }

                        bytes = Encoding.UTF8.GetBytes(chars.ToString());
                        break;
                    }

                default:
                    bytes = Encoding.UTF8.GetBytes(CacheBytes.FromBytes(Inputs(random, 1).First()));
                    break;
            }

            yield return bytes;
        }
    }
}
