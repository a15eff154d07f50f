using System.Text;
using Granary.Caching;
using Granary.Hashing;

namespace Granary.Tests.Unit.Hashing;

public sealed class HashSlotTests
{
    [Fact]
    public void Crc16_is_xmodem_computed_bit_by_bit()
    {
        // The CRC-16/XMODEM check value of "123456789" is 0x31C3 (the catalogue's check string).
        Assert.Equal(0x31C3, HashSlot.Crc16("123456789"u8));
        var random = new Random(16);
        for (var i = 0; i < 500; i++)
        {
            var bytes = new byte[random.Next(0, 40)];
            random.NextBytes(bytes);
            Assert.Equal(BitwiseCrc16(bytes), HashSlot.Crc16(bytes));
        }
    }

    [Theory]
    [InlineData("{user1000}.following", "user1000")]
    [InlineData("{user1000}.followers", "user1000")]
    [InlineData("foo{}{bar}", "foo{}{bar}")] // an empty tag: the whole key
    [InlineData("foo{{bar}}zap", "{bar")] // from the first '{' to the first '}' after it
    [InlineData("foo{bar}{zap}", "bar")] // only the first tag
    [InlineData("no-tag", "no-tag")]
    [InlineData("open{only", "open{only")]
    [InlineData("}{x}", "x")]
    [InlineData("ключ{тег}", "тег")]
    public void The_hash_tag_is_redis_clusters(string key, string hashed)
    {
        Assert.Equal(hashed, HashSlot.TagOf(key).ToString());
        Assert.Equal(BitwiseCrc16(Encoding.UTF8.GetBytes(hashed)) % HashSlot.Count, HashSlot.Of(key));
    }

    [Fact]
    public void Ascii_and_non_ascii_keys_hash_their_utf8_bytes()
    {
        // ASCII keys are hashed char by char, others through UTF-8: both must be the CRC of the UTF-8 bytes.
        var random = new Random(17);
        char[] alphabet = ['a', 'Z', '0', ':', '{', '}', ' ', '\u007f', '\u0080', 'é', 'ж', '\u20ac', '\ud83d', '\ude00'];
        for (var i = 0; i < 2_000; i++)
        {
            var chars = new char[random.Next(0, 24)];
            for (var c = 0; c < chars.Length; c++)
            {
                chars[c] = alphabet[random.Next(alphabet.Length)];
            }

            var key = new string(chars);
            var hashed = HashSlot.TagOf(key).ToString();
            Assert.Equal(BitwiseCrc16(Encoding.UTF8.GetBytes(hashed)) % HashSlot.Count, HashSlot.Of(key));
        }
    }

    [Fact]
    public void Long_keys_hash_like_short_ones()
    {
        // Keys longer than the stack buffer take the heap path.
        var key = new string('é', 400) + "{tag}";
        Assert.Equal(HashSlot.Of("tag"), HashSlot.Of(key));
        var untagged = new string('é', 400);
        Assert.Equal(BitwiseCrc16(Encoding.UTF8.GetBytes(untagged)) % HashSlot.Count, HashSlot.Of(untagged));
    }

    [Fact]
    public void Ring_positions_are_in_slot_order_and_cover_the_ring_evenly()
    {
        Assert.Equal(1UL << 49, HashSlot.RingPosition(0));
        Assert.Equal(ulong.MaxValue - ((1UL << 49) - 1), HashSlot.RingPosition(HashSlot.Count - 1));
        Assert.Throws<ArgumentOutOfRangeException>(() => HashSlot.RingPosition(HashSlot.Count));
        Assert.Throws<ArgumentOutOfRangeException>(() => HashSlot.RingPosition(-1));
    }

    [Fact]
    public void Keys_with_one_tag_share_a_shard_and_every_shard_owns_slots()
    {
        var map = CacheShardMap.Create(8, 160, 1, CacheKeyPlacement.HashSlots);
        for (var i = 0; i < 200; i++)
        {
            var tag = "{user:" + i + "}";
            Assert.Equal(map.ShardOf(tag + "cart"), map.ShardOf(tag + "profile"));
            Assert.Equal(map.ShardOfSlot(HashSlot.Of(tag)), map.ShardOf(tag + "cart"));
        }

        var perShard = Enumerable.Range(0, HashSlot.Count).GroupBy(map.ShardOfSlot).ToDictionary(g => g.Key, g => g.Count());
        Assert.Equal(8, perShard.Count);
        Assert.All(perShard.Values, count => Assert.InRange(count, HashSlot.Count / 8 / 2, HashSlot.Count / 8 * 2));
    }

    [Fact]
    public void Resharding_moves_about_one_slot_in_n()
    {
        var four = CacheShardMap.Create(4, 160, 1, CacheKeyPlacement.HashSlots);
        var five = CacheShardMap.Create(5, 160, 2, CacheKeyPlacement.HashSlots);
        var moved = Enumerable.Range(0, HashSlot.Count).Count(s => four.ShardOfSlot(s) != five.ShardOfSlot(s));
        Assert.All(Enumerable.Range(0, HashSlot.Count).Where(s => four.ShardOfSlot(s) != five.ShardOfSlot(s)), s => Assert.Equal(4, five.ShardOfSlot(s)));
        Assert.InRange(moved / (double)HashSlot.Count, 0.15, 0.25);
    }

    [Fact]
    public void Whole_key_placement_is_the_ring_lookup_caches_were_created_with()
    {
        var map = CacheShardMap.Create(6, 160, 3, CacheKeyPlacement.WholeKey);
        var ring = ConsistentHashRing.Create(Enumerable.Range(0, 6).Select(i => new RingNode(i.ToString(System.Globalization.CultureInfo.InvariantCulture))), 160, 3);
        for (var i = 0; i < 1000; i++)
        {
            var key = "{tag}k" + i;
            Assert.Equal(ring.GetNode(key), map.ShardOf(key).ToString(System.Globalization.CultureInfo.InvariantCulture));
        }

        Assert.Throws<InvalidOperationException>(() => map.ShardOfSlot(0));
    }

    private static int BitwiseCrc16(byte[] bytes)
    {
        var crc = 0;
        foreach (var b in bytes)
        {
            crc ^= b << 8;
            for (var bit = 0; bit < 8; bit++)
            {
                crc = (crc & 0x8000) != 0 ? ((crc << 1) ^ 0x1021) & 0xFFFF : (crc << 1) & 0xFFFF;
            }
        }

        return crc;
    }
}
