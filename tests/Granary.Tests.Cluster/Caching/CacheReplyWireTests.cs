using Granary.Caching;
using Microsoft.Extensions.DependencyInjection;
using Orleans.Serialization;

namespace Granary.Tests.Cluster.Caching;

/// <summary>A reply crosses the grain boundary through its codec: the typed MOVED signal must survive it.</summary>
public sealed class CacheReplyWireTests
{
    private static readonly Serializer Serializer = new ServiceCollection()
        .AddSerializer(builder => builder.AddAssembly(typeof(CacheReplyCodec).Assembly))
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

    [Fact]
    public void An_ok_status_takes_one_byte_and_reads_back_as_the_shared_reply()
    {
        CacheReply[] oks = [CacheReply.Ok, CacheReply.Ok, CacheReply.Ok];
        CacheReply[] others = [CacheReply.Ok, CacheReply.Status("QUEUED"), CacheReply.Ok];
        var bytes = Serializer.SerializeToArray(oks);
        var copy = Serializer.Deserialize<CacheReply[]>(bytes)!;
        Assert.All(copy, reply => Assert.Same(CacheReply.Ok, reply));

        // "QUEUED" costs its tag, length and six bytes where "OK" costs one byte.
        Assert.Equal(bytes.Length + 7, Serializer.SerializeToArray(others).Length);
        Assert.Equal(others, Serializer.Deserialize<CacheReply[]>(Serializer.SerializeToArray(others)));
    }

    [Fact]
    public void A_status_or_error_without_text_crosses_as_empty_text()
    {
        Assert.Equal(CacheReply.Status(string.Empty), RoundTrip(CacheReply.Status(null!)));
        Assert.Equal(CacheReply.Error(string.Empty), RoundTrip(CacheReply.Error(null!)));
    }

    [Fact]
    public void A_command_batch_round_trips_with_its_nulls_and_text()
    {
        string[][] batch = [["SET", "k", "v"], ["GET", "ключ:🙂"], null!, [null!, string.Empty], [], ["SET", "big", new string('x', 70_000)]];
        var copy = Serializer.Deserialize<string[][]>(Serializer.SerializeToArray(batch))!;
        Assert.Equal(batch.Length, copy.Length);
        for (var i = 0; i < batch.Length; i++)
        {
            Assert.Equal(batch[i], copy[i]);
        }
    }

    [Fact]
    public void Random_reply_batches_round_trip_reply_for_reply()
    {
        var random = new Random(20261204);
        for (var round = 0; round < 500; round++)
        {
            var replies = Enumerable.Range(0, random.Next(0, 40)).Select(_ => RandomReply(random, 0)).ToArray();
            var copy = Serializer.Deserialize<CacheReply[]>(Serializer.SerializeToArray(replies))!;
            Assert.Equal(replies, copy);
            Assert.Equal(replies.Select(r => r.MovedRingVersion), copy.Select(r => r.MovedRingVersion));
            var wrapped = Serializer.Deserialize<Orleans.Concurrency.Immutable<CacheReply[]>>(Serializer.SerializeToArray(new Orleans.Concurrency.Immutable<CacheReply[]>(replies)));
            Assert.Equal(replies, wrapped.Value);
        }
    }

    [Fact]
    public void A_count_larger_than_its_block_is_refused_before_anything_is_allocated()
    {
        // Orleans' varints: count 1 is 0x03, then integer tag 3 and zigzag(0x55) = 170 as 0xAA 0x02. The count
        // becomes 127 (0xFF) with the block's length unchanged.
        var bytes = Serializer.SerializeToArray(new[] { CacheReply.Int(0x55) });
        var at = IndexOf(bytes, [0x03, 0x03, 0xAA, 0x02]);
        Assert.True(at >= 0);
        bytes[at] = 0xFF;
        Assert.Throws<SerializerException>(() => Serializer.Deserialize<CacheReply[]>(bytes));
    }

    [Fact]
    public void Every_truncation_and_byte_flip_of_a_block_fails_or_reads_a_well_formed_batch()
    {
        var random = new Random(7);
        var replies = Enumerable.Range(0, 12).Select(_ => RandomReply(random, 0)).ToArray();
        var bytes = Serializer.SerializeToArray(replies);
        for (var length = 0; length < bytes.Length; length++)
        {
            Assert.ThrowsAny<Exception>(() => Serializer.Deserialize<CacheReply[]>(bytes.AsSpan(0, length).ToArray()));
        }

        for (var i = 0; i < 3_000; i++)
        {
            var mutated = (byte[])bytes.Clone();
            mutated[random.Next(mutated.Length)] = (byte)random.Next(256);
            try
            {
                var read = Serializer.Deserialize<CacheReply[]>(mutated);
                Assert.NotNull(read);
                Assert.All(read, r => Assert.NotNull(r));
            }
            catch (Exception ex) when (ex is not (OutOfMemoryException or InsufficientExecutionStackException))
            {
                // Refused (by the block's checks or by Orleans' own framing): the message fails, nothing else.
            }
        }
    }

    [Fact]
    public void Replies_nest_at_most_the_wire_depth()
    {
        var deepest = Nest(32);
        Assert.Equal(deepest, RoundTrip(deepest));
        Assert.Throws<SerializerException>(() => Serializer.SerializeToArray(Nest(33)));

        static CacheReply Nest(int depth)
        {
            var reply = CacheReply.Bulk("leaf");
            for (var i = 0; i < depth; i++)
            {
                reply = CacheReply.Array([reply]);
            }

            return reply;
        }
    }

    private static CacheReply RoundTrip(CacheReply reply) => Serializer.Deserialize<CacheReply>(Serializer.SerializeToArray(reply))!;

    private static CacheReply RandomReply(Random random, int depth) => random.Next(depth < 3 ? 9 : 8) switch
    {
        0 => CacheReply.Status(random.Next(2) == 0 ? "OK" : "QUEUED"),
        1 => CacheReply.Error("ERR " + RandomText(random)),
        2 => CacheReply.Int(random.NextInt64(long.MinValue, long.MaxValue)),
        3 => CacheReply.Int(random.Next(-3, 300)),
        4 => CacheReply.Bulk(RandomText(random)),
        5 => CacheReply.Nil,
        6 => random.Next(2) == 0 ? CacheReply.NilArray : CacheReply.EmptyArray,
        7 => CacheReply.Moved(random.NextInt64(0, long.MaxValue)),
        _ => CacheReply.Array([.. Enumerable.Range(0, random.Next(1, 6)).Select(_ => RandomReply(random, depth + 1))]),
    };

    private static string RandomText(Random random)
    {
        const string Alphabet = "abc xyz 0123456789 é ключ 🙂\r\n";
        var length = random.Next(0, 30);
        var text = new System.Text.StringBuilder();
        while (text.Length < length)
        {
            var c = Alphabet[random.Next(Alphabet.Length)];
            text.Append(char.IsHighSurrogate(c) ? "🙂" : char.IsLowSurrogate(c) ? "x" : c.ToString());
        }

        return text.ToString();
    }

    private static int IndexOf(byte[] bytes, byte[] pattern)
    {
        for (var i = 0; i + pattern.Length <= bytes.Length; i++)
        {
            if (bytes.AsSpan(i, pattern.Length).SequenceEqual(pattern))
            {
                return i;
            }
        }

        return -1;
    }
}
