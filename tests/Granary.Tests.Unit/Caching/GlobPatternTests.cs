using System.Globalization;
using Granary.Caching;
using Microsoft.Extensions.Time.Testing;
using Xunit.Abstractions;

namespace Granary.Tests.Unit.Caching;

/// <summary>
/// KEYS / SCAN MATCH cost: hostile patterns finish within a bound counted in matcher steps (word operations),
/// patterns beyond the limits are refused, and one SCAN call's work does not grow with the shard.
/// </summary>
public sealed class GlobPatternTests(ITestOutputHelper output)
{
    private const int KeyLength = 256;

    // The engine's defaults are the documented limits (Limits.Caching, checked by the cluster tests).
    private static readonly CacheKeyspaceOptions Defaults = new();

    private readonly FakeTimeProvider _time = new(DateTimeOffset.Parse("2026-01-01T00:00:00Z", CultureInfo.InvariantCulture));

    public static TheoryData<string> HostilePatterns => new()
    {
        "*a*a*a*a*b",
        "*a*a*a*a*a*a*a*a*a*a*a*a*a*a*a*a*a*a*a*a*b",
        string.Concat(Enumerable.Repeat("*a", 63)) + "b",
        string.Concat(Enumerable.Repeat("a*", 63)) + "?b",
        "*" + string.Concat(Enumerable.Repeat("?*", 31)) + "b",
        string.Concat(Enumerable.Repeat("*[a-z]", 31)) + "[^a]",
        "*" + new string('a', 400) + "*b",
    };

    [Theory]
    [MemberData(nameof(HostilePatterns))]
    public void A_hostile_pattern_over_a_long_key_finishes_within_a_bound_counted_in_steps(string pattern)
    {
        var glob = GlobPattern.Compile(pattern);
        var key = new string('a', KeyLength);

        Assert.False(glob.IsMatch(key));

        // One step for the call, then WordsPerByte word operations per byte of the key, whatever the stars.
        var bound = 1 + ((long)KeyLength * glob.WordsPerByte);
        output.WriteLine($"{pattern[..Math.Min(pattern.Length, 40)]}... ({pattern.Length} characters, {glob.Wildcards} wildcards): {glob.Steps} steps over a {KeyLength}-character key (bound {bound})");
        Assert.True(glob.Steps <= bound, $"{glob.Steps} steps > {bound}");
        Assert.True(glob.WordsPerByte <= (Defaults.MaxPatternLength * 3 / 64) + 1);
    }

    [Fact]
    public void Keys_with_a_hostile_pattern_costs_at_most_keys_times_the_per_key_bound()
    {
        var ks = new CacheKeyspace(new CacheKeyspaceOptions(), _time);
        const int Keys = 2_000;
        for (var i = 0; i < Keys; i++)
        {
            ks.Execute("SET", i.ToString("D6", CultureInfo.InvariantCulture) + new string('a', KeyLength - 6), "v");
        }

        var reply = ks.Execute("KEYS", "*a*a*a*a*a*a*a*a*b");
        Assert.Empty(reply.Items!);
        var glob = ks.LastPattern!;
        var bound = Keys * (1 + ((long)KeyLength * glob.WordsPerByte));
        output.WriteLine($"KEYS *a*a*a*a*a*a*a*a*b over {Keys} keys of {KeyLength} characters: {glob.Steps} steps (bound {bound})");
        Assert.True(glob.Steps <= bound, $"{glob.Steps} steps > {bound}");
    }

    [Theory]
    [InlineData("user:*", "user:42", true)]
    [InlineData("user:?", "user:42", false)]
    [InlineData("user:??", "user:42", true)]
    [InlineData("h[ae]llo", "hallo", true)]
    [InlineData("h[^e]llo", "hello", false)]
    [InlineData("h[a-c]llo", "hbllo", true)]
    [InlineData("h[c-a]llo", "hbllo", true)]
    [InlineData("a\\*b", "a*b", true)]
    [InlineData("a\\*b", "axb", false)]
    [InlineData("*", "", false)]
    [InlineData("", "", true)]
    [InlineData("", "a", false)]
    [InlineData("a*", "a", true)]
    [InlineData("a**", "a", true)]
    [InlineData("a*?", "a", false)]
    [InlineData("*a*a*a*a*b", "aaaaaaaaaab", true)]
    [InlineData("[", "[", false)]
    [InlineData("[^", "x", true)]
    [InlineData("[^", "xy", false)]
    [InlineData("[abc", "b", true)]
    [InlineData("[a-]", "]", true)]
    [InlineData("[a-]xyz", "y", true)]
    [InlineData("[]a]", "a]", false)]
    [InlineData("[]a]", "a", false)]
    [InlineData("[\\]]", "]", true)]
    [InlineData("a\\", "a\\", true)]
    [InlineData("?", "é", false)]
    [InlineData("??", "é", true)]
    [InlineData("[a-é]", "Z", true)]
    [InlineData("[a-é]", "b", false)]
    public void Matches_like_redis_byte_by_byte(string pattern, string text, bool expected) =>
        Assert.Equal(expected, GlobPattern.IsMatch(pattern, text));

    [Fact]
    public void Patterns_beyond_the_limits_are_refused_and_change_nothing()
    {
        var ks = new CacheKeyspace(new CacheKeyspaceOptions(), _time);
        ks.Execute("SET", "k", "v");
        var tooLong = new string('a', Defaults.MaxPatternLength + 1);
        var tooWild = string.Concat(Enumerable.Repeat("a*", Defaults.MaxPatternWildcards + 1));
        var atLimit = string.Concat(Enumerable.Repeat("?", Defaults.MaxPatternWildcards));

        Assert.Equal($"ERR pattern is {tooLong.Length} characters long; the limit is {Defaults.MaxPatternLength}", ks.Execute("KEYS", tooLong).Text);
        Assert.Equal($"ERR pattern has {Defaults.MaxPatternWildcards + 1} wildcards; the limit is {Defaults.MaxPatternWildcards}", ks.Execute("KEYS", tooWild).Text);
        Assert.Equal($"ERR pattern has {Defaults.MaxPatternWildcards + 1} wildcards; the limit is {Defaults.MaxPatternWildcards}", ks.Execute("SCAN", "0", "MATCH", tooWild).Text);
        Assert.Equal($"ERR pattern is {tooLong.Length} characters long; the limit is {Defaults.MaxPatternLength}", ks.Execute("SCAN", "0", "MATCH", tooLong).Text);
        Assert.False(ks.LastCommandChanged);
        Assert.Equal(CacheReplyKind.Array, ks.Execute("KEYS", atLimit).Kind);
        Assert.Equal(CacheReply.Bulk("v"), ks.Execute("GET", "k"));
    }

    [Fact]
    public void Keys_is_refused_on_a_shard_larger_than_the_limit_and_scan_still_walks_it()
    {
        var ks = new CacheKeyspace(new CacheKeyspaceOptions { MaxKeysPerKeysCommand = 100 }, _time);
        for (var i = 0; i < 101; i++)
        {
            ks.Execute("SET", "k" + i.ToString(CultureInfo.InvariantCulture), "v");
        }

        Assert.Equal("ERR KEYS would examine 101 keys; the limit is 100 per shard (use SCAN)", ks.Execute("KEYS", "*").Text);
        ks.Execute("DEL", "k0");
        Assert.Equal(100, ks.Execute("KEYS", "*").Items!.Count);
    }

    [Fact]
    public void Scan_visits_at_most_the_limit_per_call_whatever_count_asks()
    {
        var ks = new CacheKeyspace(new CacheKeyspaceOptions(), _time);
        const int Keys = 5_000;
        for (var i = 0; i < Keys; i++)
        {
            ks.Execute("SET", "k" + i.ToString(CultureInfo.InvariantCulture), "v");
        }

        var seen = new HashSet<string>(StringComparer.Ordinal);
        var cursor = "0";
        var calls = 0;
        do
        {
            var before = ks.ScanSteps;
            var reply = ks.Execute("SCAN", cursor, "COUNT", "9223372036854775807");
            cursor = reply.Items![0].Text!;
            Assert.InRange(reply.Items[1].Items!.Count, 1, Defaults.MaxScanCount + 1);
            Assert.True(ks.ScanSteps - before <= (calls == 0 ? Keys : 0) + Defaults.MaxScanCount + 1, $"call {calls}: {ks.ScanSteps - before} steps");
            seen.UnionWith(reply.Items[1].Items!.Select(r => r.Text!));
            calls++;
        }
        while (cursor != "0");

        output.WriteLine($"SCAN COUNT 2^63-1 over {Keys} keys: {calls} calls, {seen.Count} keys, {ks.ScanSteps} steps");
        Assert.Equal(Keys, seen.Count);
        Assert.Equal((Keys + Defaults.MaxScanCount - 1) / Defaults.MaxScanCount, calls);
    }

    [Fact]
    public void A_scan_after_each_write_costs_the_page_not_the_shard()
    {
        var ks = new CacheKeyspace(new CacheKeyspaceOptions(), _time);
        const int Keys = 20_000;
        const int Rounds = 200;
        for (var i = 0; i < Keys; i++)
        {
            ks.Execute("SET", "k" + i.ToString(CultureInfo.InvariantCulture), "v");
        }

        ks.Execute("SCAN", "0", "COUNT", "10");
        var before = ks.ScanSteps;
        for (var round = 0; round < Rounds; round++)
        {
            // Each write changes the set of keys; each SCAN must not re-sort the whole shard for it.
            ks.Execute("SET", "new" + round.ToString(CultureInfo.InvariantCulture), "v");
            ks.Execute("DEL", "k" + round.ToString(CultureInfo.InvariantCulture));
            var reply = ks.Execute("SCAN", "0", "COUNT", "10");
            Assert.NotEmpty(reply.Items![1].Items!);
        }

        var perRound = (ks.ScanSteps - before) / (double)Rounds;
        output.WriteLine($"{Rounds} rounds of SET + DEL + SCAN COUNT 10 on {Keys} keys: {perRound:F1} scan steps per round (a full re-sort would be {Keys})");
        Assert.True(perRound <= 2 + 11, $"{perRound} steps per round");
    }
}
