using System.Text;
using Granary.Caching;
using Granary.Server.Memcached;
using Granary.Text;

namespace Granary.Tests.Cluster.Memcached;

/// <summary>The cache key a memcached key's bytes are stored under: text as itself, any other bytes escaped, never two keys for one.</summary>
public sealed class MemcachedKeyTextTests
{
    [Theory]
    [InlineData("plain:key-1")]
    [InlineData("\u0010\u0010control")] // control bytes are ASCII: stored as they are, as memcached keeps them
    [InlineData("caf\u00c3\u00a9")] // the UTF-8 bytes of "café", one char per byte
    public void A_key_that_is_text_is_its_own_cache_key(string bytes) =>
        Assert.Equal(Encoding.UTF8.GetString(Encoding.Latin1.GetBytes(bytes)), MemcachedParser.KeyText(bytes));

    [Fact]
    public void Different_bytes_always_give_different_storable_keys()
    {
        var random = new Random(2112);
        var inputs = new HashSet<string>(StringComparer.Ordinal);
        for (var i = 0; i < 20_000; i++)
        {
            var bytes = new byte[random.Next(0, 251)];
            switch (i % 4)
            {
                case 0:
                    random.NextBytes(bytes); // mostly not UTF-8
                    break;
                case 1:
                    // One byte at or above 0x80 (or a NUL) among printable ASCII: the smallest difference from text.
                    for (var k = 0; k < bytes.Length; k++)
                    {
                        bytes[k] = (byte)random.Next(0x21, 0x7F);
                    }

                    if (bytes.Length > 0)
                    {
                        bytes[random.Next(bytes.Length)] = (byte)random.Next(2) == 0 ? (byte)0 : (byte)random.Next(0x80, 0x100);
                    }

                    break;
                default:
                    // Text that looks like an escaped key: the mark, then escape characters or ASCII.
                    var chars = new StringBuilder().Append(CacheBytes.Mark);
                    while (Encoding.UTF8.GetByteCount(chars.ToString()) < bytes.Length)
                    {
                        chars.Append(random.Next(3) == 0 ? (char)random.Next(0x21, 0x7F) : (char)(0xE000 + random.Next(0x100)));
                    }

                    bytes = Encoding.UTF8.GetBytes(chars.ToString());
                    break;
            }

            inputs.Add(Encoding.Latin1.GetString(bytes));
        }

        // The escaped forms of some inputs, sent as UTF-8 text, must not name those inputs' items either.
        foreach (var escaped in inputs.Take(2_000).Select(MemcachedParser.KeyText).Where(k => k.StartsWith(CacheBytes.Mark)).ToList())
        {
            inputs.Add(Encoding.Latin1.GetString(Encoding.UTF8.GetBytes(escaped)));
        }

        var keys = new Dictionary<string, string>(StringComparer.Ordinal);
        foreach (var input in inputs)
        {
            var key = MemcachedParser.KeyText(input);
            Assert.True(StorableText.IsStorable(key), $"key of {Convert.ToHexString(Encoding.Latin1.GetBytes(input))} is not storable");
            Assert.True(key.Length <= input.Length + 1, $"key of {input.Length} bytes has {key.Length} characters");
            Assert.True(keys.TryAdd(key, input), $"{Convert.ToHexString(Encoding.Latin1.GetBytes(input))} and {Convert.ToHexString(Encoding.Latin1.GetBytes(keys.GetValueOrDefault(key) ?? string.Empty))} share a key");
        }

        Assert.Equal(inputs.Count, keys.Count);
        Assert.Contains(keys.Keys, k => k.StartsWith(CacheBytes.Mark)); // both kinds were made
        Assert.Contains(keys.Keys, k => !k.StartsWith(CacheBytes.Mark));
    }
}
