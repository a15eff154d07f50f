using System.Globalization;
using System.Text;
using Granary.Caching;
using Granary.Tests.Cluster.Infrastructure;
using Xunit.Abstractions;

namespace Granary.Tests.Cluster.Memcached;

/// <summary>
/// The silo's Memcached endpoint compared byte for byte with a real memcached, with a real client
/// library, and under malformed input. One silo and one memcached for the class.
/// </summary>
public sealed partial class MemcachedEndpointTests(MemcachedClusterFixture fixture, ITestOutputHelper output) : IClassFixture<MemcachedClusterFixture>
{
    private const int DifferentialCommands = 700;

    [Theory]
    [InlineData(1)]
    [InlineData(16)]
    public async Task Replies_match_memcached_byte_for_byte(int pipelineDepth)
    {
        await using var memcached = await MemcachedWire.ConnectAsync(fixture.Memcached.Port);
        await using var granary = await fixture.ConnectAsync();
        var prefix = $"diff{pipelineDepth}:{Guid.NewGuid():N}:";
        var commands = MemcachedDifferential.Generate(seed: 2100 + pipelineDepth, DifferentialCommands, prefix, pipelined: pipelineDepth > 1);
        var theirNames = new Dictionary<(string, ulong), int>();
        var ourNames = new Dictionary<(string, ulong), int>();
        var theirSeen = new Dictionary<string, List<ulong>>(StringComparer.Ordinal);
        var ourSeen = new Dictionary<string, List<ulong>>(StringComparer.Ordinal);
        var mismatches = new List<string>();
        var errors = 0;
        foreach (var chunk in commands.Chunk(pipelineDepth))
        {
            // Each server gets the cas uniques it answered itself (earlier chunks only when pipelined).
            var theirs = MemcachedDifferential.Normalize(Encoding.UTF8.GetString(await memcached.CallAsync(string.Concat(chunk.Select(c => MemcachedDifferential.Resolve(c, theirSeen))))), theirNames, theirSeen);
            var ours = MemcachedDifferential.Normalize(Encoding.UTF8.GetString(await granary.CallAsync(string.Concat(chunk.Select(c => MemcachedDifferential.Resolve(c, ourSeen))))), ourNames, ourSeen);
            errors += theirs.Split("\r\n").Count(l => l.StartsWith("ERROR", StringComparison.Ordinal) || l.Contains("_ERROR ", StringComparison.Ordinal));
            if (theirs != ours)
            {
                mismatches.Add($"{string.Concat(chunk).Replace("\r\n", "\\r\\n", StringComparison.Ordinal)}\n  memcached: {theirs.Replace("\r\n", "\\r\\n", StringComparison.Ordinal)}\n  granary:   {ours.Replace("\r\n", "\\r\\n", StringComparison.Ordinal)}");
            }
        }

        output.WriteLine($"pipeline depth {pipelineDepth}: {commands.Count} commands, {errors} error lines, {theirNames.Count} cas uniques, {mismatches.Count} mismatching chunks");
        foreach (var mismatch in mismatches.Take(15))
        {
            output.WriteLine(mismatch);
        }

        Assert.True(errors > 30, "the workload should exercise error replies");
        Assert.True(theirNames.Count > 10, "the workload should exercise cas uniques");
        Assert.Empty(mismatches);
    }

    [Fact]
    public async Task Keys_that_are_not_utf8_get_the_replies_memcached_gives_byte_for_byte()
    {
        // As memaslap sends them: binary bytes before a text part (never a space, line break or NUL).
        var random = new Random(2205);
        var unique = Encoding.ASCII.GetBytes(Guid.NewGuid().ToString("N"));
        var keys = Enumerable.Range(0, 6).Select(i =>
        {
            var head = new byte[1 + random.Next(8)];
            for (var k = 0; k < head.Length; k++)
            {
                var b = i % 2 == 0 ? random.Next(0x80, 0x100) : random.Next(0x01, 0x100);
                head[k] = (byte)(b is 0x20 or 0x0A or 0x0D ? 0x7E : b);
            }

            return (byte[])[.. head, .. unique, (byte)('0' + i)];
        }).ToArray();
        var stream = new List<byte>();
        void Line(string before, byte[] key, string after) => stream.AddRange([.. Encoding.ASCII.GetBytes(before), .. key, .. Encoding.ASCII.GetBytes(after)]);
        foreach (var (key, i) in keys.Select((k, i) => (k, i)))
        {
            Line("get ", key, "\r\n");
            Line("set ", key, " 5 0 3\r\nabc\r\n");
            Line("get ", key, " ");
            Line(string.Empty, keys[(i + 1) % keys.Length], "\r\n");
            Line("append ", key, " 0 0 2\r\nde\r\n");
            Line("add ", key, " 0 0 1\r\nx\r\n");
            Line("touch ", key, " 100\r\n");
            Line("mg ", key, " v f k\r\n");
            Line("delete ", key, "\r\n");
            Line("set ", key, " 0 0 2\r\n10\r\n");
            Line("incr ", key, " 5\r\n");
            Line("get ", key, "\r\n");
            Line("delete ", key, "\r\n");
            Line("delete ", key, "\r\n");
        }

        stream.AddRange("version\r\n"u8);
        await using var memcached = await MemcachedWire.ConnectAsync(fixture.Memcached.Port);
        await using var granary = await fixture.ConnectAsync();
        await memcached.SendAsync([.. stream]);
        await granary.SendAsync([.. stream]);
        var theirs = Encoding.Latin1.GetString(await memcached.ReadUntilVersionAsync());
        var ours = Encoding.Latin1.GetString(await granary.ReadUntilVersionAsync());
        Assert.Equal(keys.Length * 3, System.Text.RegularExpressions.Regex.Count(theirs, "END\r\n")); // what was compared: every get answered
        Assert.Contains("VALUE ", theirs, StringComparison.Ordinal);
        Assert.Equal(theirs, ours);
    }

    [Fact]
    public async Task Values_that_are_not_utf8_get_the_replies_memcached_gives_byte_for_byte()
    {
        // Values of any bytes: not UTF-8, zero bytes, CR LF and "END" inside, a multi-byte character cut in two.
        var random = new Random(2206);
        var unique = Guid.NewGuid().ToString("N");
        byte[][] fixedValues = [[0xff, 0xfe], [0x00], [0xc3], [0xa9], "\r\nEND\r\n"u8.ToArray(), "é😀"u8.ToArray(), "12"u8.ToArray(), []];
        byte[] Value()
        {
            if (random.Next(2) == 0)
            {
                return fixedValues[random.Next(fixedValues.Length)];
            }

            var bytes = new byte[random.Next(1, 40)];
            random.NextBytes(bytes);
            return bytes;
        }

        var stream = new List<byte>();
        void Store(string command, string key, byte[] value) =>
            stream.AddRange([.. Encoding.ASCII.GetBytes($"{command} {key} 3 0 {value.Length}\r\n"), .. value, .. "\r\n"u8]);
        var stores = 0;
        for (var i = 0; i < 300; i++)
        {
            var key = $"bin:{unique}:{random.Next(6)}";
            switch (random.Next(9))
            {
                case 0 or 1:
                    Store("set", key, Value());
                    stores++;
                    break;
                case 2:
                    Store("append", key, Value());
                    break;
                case 3:
                    Store("prepend", key, Value());
                    break;
                case 4:
                    Store(random.Next(2) == 0 ? "add" : "replace", key, Value());
                    break;
                case 5:
                    var value = Value();
                    stream.AddRange([.. Encoding.ASCII.GetBytes($"ms {key} {value.Length} F7 T0\r\n"), .. value, .. "\r\n"u8]);
                    break;
                case 6:
                    stream.AddRange(Encoding.ASCII.GetBytes($"mg {key} v s f k\r\n"));
                    break;
                case 7:
                    stream.AddRange(Encoding.ASCII.GetBytes(random.Next(3) == 0 ? $"incr {key} 1\r\n" : $"get {key} bin:{unique}:{random.Next(6)}\r\n"));
                    break;
                default:
                    stream.AddRange(Encoding.ASCII.GetBytes(random.Next(4) == 0 ? $"delete {key}\r\n" : $"gat 100 {key}\r\n"));
                    break;
            }
        }

        stream.AddRange("version\r\n"u8);
        await using var memcached = await MemcachedWire.ConnectAsync(fixture.Memcached.Port);
        await using var granary = await fixture.ConnectAsync();
        await memcached.SendAsync([.. stream]);
        await granary.SendAsync([.. stream]);
        var theirs = await memcached.ReadUntilVersionAsync();
        var ours = await granary.ReadUntilVersionAsync();
        var read = Encoding.Latin1.GetString(theirs);
        Assert.True(stores > 40 && System.Text.RegularExpressions.Regex.Count(read, "VALUE |VA ") > 60, "the workload should store and read values back");
        Assert.True(!System.Text.Unicode.Utf8.IsValid(theirs), "memcached should have answered bytes that are not UTF-8");
        Assert.Equal(read, Encoding.Latin1.GetString(ours));
    }

    [Fact]
    public async Task Pymemcache_stores_reads_and_counts_through_the_endpoint()
    {
        // The Debian interpreter, which has the Debian package python3-pymemcache.
        var python = File.Exists("/usr/bin/python3") ? "/usr/bin/python3" : throw new InvalidOperationException("/usr/bin/python3 is not installed (Debian packages python3, python3-pymemcache)");
        var key = "py" + Guid.NewGuid().ToString("N");
        var script = """
            import sys
            from pymemcache.client.base import Client
            c = Client(("127.0.0.1", int(sys.argv[1])), default_noreply=False)
            k = sys.argv[2]
            assert c.set(k, "héllo".encode(), expire=100, flags=7) is True
            assert c.get(k) == "héllo".encode()
            assert c.add(k, "x") is False
            assert c.append(k, "!") is True
            assert c.prepend(k, ">") is True
            value, cas = c.gets(k)
            assert value == ">héllo!".encode(), value
            assert c.cas(k, "new", cas) is True
            assert c.cas(k, "lost", cas) is False
            assert c.set(k + "n", "10") is True
            assert c.incr(k + "n", 5) == 15
            assert c.decr(k + "n", 100) == 0
            assert c.incr(k + "n", 18446744073709551615) == 18446744073709551615
            assert c.incr(k + "n", 1) == 0
            many = c.get_many([k, k + "n", k + "missing"])
            assert many == {k: b"new", k + "n": b"0                   "}, many
            assert c.touch(k, 100) is True
            assert c.delete(k) is True
            assert c.delete(k) is False
            assert c.get(k) is None
            stats = c.stats()
            assert stats[b"cmd_get"] > 0 and stats[b"get_hits"] > 0 and stats[b"get_misses"] > 0, stats
            assert c.version().startswith(b"1.6")
            c.set(k, "x", noreply=True)
            assert c.get(k) == b"x"
            blob = bytes(range(256)) * 4 + b"\r\nEND\r\n"
            assert c.set(k, blob) is True
            assert c.get(k) == blob
            assert c.append(k, b"\x00\xff") is True
            assert c.get(k) == blob + b"\x00\xff"
            print("ok")
            """;
        var file = Path.Combine(Path.GetTempPath(), $"granary-pymemcache-{Guid.NewGuid():N}.py");
        await File.WriteAllTextAsync(file, script);
        try
        {
            var result = await ChildProcess.RunAsync(python, [file, fixture.Port.ToString(CultureInfo.InvariantCulture), key], TimeSpan.FromSeconds(60), default);
            output.WriteLine(result.Output);
            Assert.Equal(0, result.ExitCode);
            Assert.Equal("ok", result.Output.Trim());
        }
        finally
        {
            File.Delete(file);
        }
    }

    [Fact]
    public async Task Libmemcached_memcapable_ascii_conformance_passes()
    {
        var memcapable = ChildProcess.FindExecutable("memccapable", "/usr/bin") ?? ChildProcess.FindExecutable("memcapable", "/usr/bin")
            ?? throw new InvalidOperationException("memcapable is not installed (Debian package libmemcached-tools)");
        var result = await ChildProcess.RunAsync(memcapable, ["-a", "-h", "127.0.0.1", "-p", fixture.Port.ToString(CultureInfo.InvariantCulture)], TimeSpan.FromSeconds(120), default);
        output.WriteLine(result.Output);
        Assert.Equal(0, result.ExitCode);
        Assert.Contains("All tests passed", result.Output, StringComparison.Ordinal);
        Assert.DoesNotContain("[fail]", result.Output, StringComparison.Ordinal);
    }

    [Fact]
    public async Task A_key_set_over_memcached_is_a_string_for_the_cache_and_keeps_its_flags()
    {
        await using var wire = await fixture.ConnectAsync();
        var key = "shared:" + Guid.NewGuid().ToString("N");
        Assert.Equal("STORED\r\n", await wire.CallTextAsync($"set {key} 12 0 5\r\nhello\r\n"));
        await using var cache = await Granary.Client.Caching.CacheClient.ConnectAsync(fixture.Grains, MemcachedClusterFixture.CacheName);
        Assert.Equal("hello", await cache.GetAsync(key));
        Assert.Equal($"VALUE {key} 12 5\r\nhello\r\nEND\r\n", await wire.CallTextAsync($"get {key}\r\n"));

        // A write through the SDK is not a memcached store: the flags go back to 0.
        await cache.ExecuteAsync(["SET", key, "world"]);
        Assert.Equal($"VALUE {key} 0 5\r\nworld\r\nEND\r\n", await wire.CallTextAsync($"get {key}\r\n"));
    }

    [Fact]
    public async Task Values_of_any_bytes_are_stored_exactly_and_oversized_items_are_refused_and_change_nothing()
    {
        await using var wire = await fixture.ConnectAsync();
        var key = "bytes:" + Guid.NewGuid().ToString("N");
        await wire.SendAsync([.. Encoding.ASCII.GetBytes($"set {key} 5 0 2\r\n"), 0xff, 0xfe, (byte)'\r', (byte)'\n']);
        await wire.SendAsync([.. Encoding.ASCII.GetBytes($"append {key} 0 0 3\r\na"), 0, (byte)'b', (byte)'\r', (byte)'\n']);
        Assert.Equal(
            [.. Encoding.ASCII.GetBytes($"STORED\r\nSTORED\r\nVALUE {key} 5 5\r\n"), 0xff, 0xfe, (byte)'a', 0, (byte)'b', .. "\r\nEND\r\n"u8],
            await wire.CallAsync($"get {key}\r\n"));
        await using var cache = await Granary.Client.Caching.CacheClient.ConnectAsync(fixture.Grains, MemcachedClusterFixture.CacheName);
        Assert.Equal(CacheBytes.FromBytes([0xff, 0xfe, (byte)'a', 0, (byte)'b']), await cache.GetAsync(key));
        Assert.Equal("STORED\r\n", await wire.CallTextAsync($"set {key} 0 0 4\r\nkept\r\n"));

        // Too large: the data is read and dropped, memcached's error follows, and (as memcached does) a failed set leaves no stale value.
        var big = new string('x', MemcachedClusterFixture.MaxItemSize + 1);
        Assert.Equal("SERVER_ERROR object too large for cache\r\n", await wire.CallTextAsync($"add {key} 0 0 {big.Length}\r\n{big}\r\n"));
        Assert.Equal($"VALUE {key} 0 4\r\nkept\r\nEND\r\n", await wire.CallTextAsync($"get {key}\r\n"));
        Assert.Equal("SERVER_ERROR object too large for cache\r\nEND\r\n", await wire.CallTextAsync($"set {key} 0 0 {big.Length}\r\n{big}\r\nget {key}\r\n"));
    }

    [Fact]
    public async Task Flush_all_with_a_delay_empties_the_cache_once_the_delay_passed()
    {
        await using var wire = await fixture.ConnectAsync();
        var key = "delayed:" + Guid.NewGuid().ToString("N");
        var clock = System.Diagnostics.Stopwatch.StartNew();
        Assert.Equal("STORED\r\nOK\r\n", await wire.CallTextAsync($"set {key} 0 0 1\r\nx\r\nflush_all 3\r\n"));
        var before = await wire.CallTextAsync($"get {key}\r\n");
        if (clock.Elapsed < TimeSpan.FromSeconds(2))
        {
            // Within the delay the item is still there (checked only when the machine answered in time).
            Assert.Equal($"VALUE {key} 0 1\r\nx\r\nEND\r\n", before);
        }

        await Eventually.TrueAsync("the delayed flush_all removed the key", async () => await wire.CallTextAsync($"get {key}\r\n") == "END\r\n", TimeSpan.FromSeconds(30));
    }

    [Fact]
    public async Task Stats_reports_the_counters_clients_read()
    {
        await using var wire = await fixture.ConnectAsync();
        var key = "stats:" + Guid.NewGuid().ToString("N");
        await wire.CallAsync($"set {key} 0 0 1\r\nx\r\nget {key} {key}:missing\r\n");
        var stats = (await wire.CallTextAsync("stats\r\n")).Split("\r\n", StringSplitOptions.RemoveEmptyEntries);
        Assert.Equal("END", stats[^1]);
        var values = stats[..^1].Select(l => l.Split(' ')).ToDictionary(p => p[1], p => p[2]);
        foreach (var name in new[] { "pid", "uptime", "time", "version", "curr_connections", "total_connections", "cmd_get", "cmd_set", "get_hits", "get_misses", "curr_items" })
        {
            Assert.True(values.ContainsKey(name), name);
        }

        Assert.True(long.Parse(values["get_hits"], CultureInfo.InvariantCulture) >= 1);
        Assert.True(long.Parse(values["get_misses"], CultureInfo.InvariantCulture) >= 1);
        Assert.True(long.Parse(values["curr_items"], CultureInfo.InvariantCulture) >= 1);
        Assert.True(long.Parse(values["curr_connections"], CultureInfo.InvariantCulture) >= 1);
    }
}
