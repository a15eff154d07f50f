using System.Globalization;
using Granary.Caching;
using Granary.Client.Naming;
using Granary.Errors;
using Microsoft.Extensions.Caching.Distributed;

namespace Granary.Client.Caching;

/// <summary>
/// <see cref="IDistributedCache"/> over one Granary cache, so code written against Microsoft's
/// Redis or SQL Server cache (and <c>HybridCache</c>, which uses it as its second level) runs on
/// Granary unchanged.
/// </summary>
/// <remarks>
/// <para><b>Layout.</b> Each entry is one hash under its key, as Microsoft's Redis cache stores it:
/// <c>data</c> (the bytes in base64), <c>absexp</c> (the absolute expiry, Unix milliseconds, or -1)
/// and <c>sldexp</c> (the sliding window in milliseconds, or -1); the key's TTL is the entry's
/// expiry. A Set replaces the entry in one indivisible unit (<c>DEL</c>, <c>HSET</c>, <c>PEXPIRE</c>:
/// <see cref="CacheClient.ExecuteAtomicAsync"/>).</para>
/// <para><b>Sliding.</b> A Get or Refresh of an entry with a sliding window sets its TTL to
/// min(window, absolute expiry - now) and, in the same indivisible unit, reads back the expiry
/// fields; if a concurrent Set replaced the entry with other expiry settings meanwhile, the TTL is
/// set again from those, so a Refresh never leaves a newer entry with an older entry's window.</para>
/// <para><b>Size.</b> Values are stored as base64 text (4 characters per 3 bytes): at most
/// <see cref="MaxValueBytes"/> bytes (Granary's value limit of 64 Ki characters); a larger value is
/// refused with <see cref="InvalidRequestException"/> (<c>INVALID_ARGUMENT</c>) before anything is
/// sent. A cache configured with a lower value limit refuses in the shard; that Set leaves no entry
/// under the key (as if it had been evicted).</para>
/// <para><b>Keys.</b> Any string: a key Granary accepts as it is (1..256 characters, storable text)
/// is used as it is, after <see cref="DependencyInjection.GranaryDistributedCacheOptions.KeyPrefix"/>; any other is
/// replaced by <c>sha256:</c> and its hash, deterministically.</para>
/// <para><b>Synchronous methods</b> block the calling thread on the asynchronous ones (the cache is
/// reached over the network): prefer the asynchronous forms.</para>
/// <para><b>Cost per call:</b> Get of an entry without a sliding window, one command (coalesced with
/// concurrent commands to the same shard); Get of a sliding entry and Refresh, two grain calls; Set,
/// one grain call; Remove, one command.</para>
/// </remarks>
public sealed class GranaryDistributedCache : IDistributedCache
{
    /// <summary>The largest value: 3 bytes per 4 base64 characters of <see cref="Limits.Caching.MaxValueLength"/>.</summary>
    public const int MaxValueBytes = Limits.Caching.MaxValueLength / 4 * 3;

    private const string Data = "data";
    private const string AbsoluteField = "absexp";
    private const string SlidingField = "sldexp";
    private const string None = "-1";

    // A concurrent Set that keeps changing the entry's expiry settings could keep a Refresh busy;
    // after this many rounds the last Set's own TTL stands.
    private const int MaxSlideRounds = 8;

    private readonly Func<CancellationToken, Task<CacheClient>> _cache;
    private readonly TimeProvider _time;
    private readonly string _prefix;

    /// <summary>An adapter over <paramref name="cache"/>.</summary>
    public GranaryDistributedCache(CacheClient cache, TimeProvider? timeProvider = null, string keyPrefix = "")
        : this(_ => Task.FromResult(cache ?? throw new ArgumentNullException(nameof(cache))), timeProvider, keyPrefix)
    {
    }

    /// <summary>An adapter over the cache client <paramref name="cache"/> returns (called on every operation: cache its result).</summary>
    internal GranaryDistributedCache(Func<CancellationToken, Task<CacheClient>> cache, TimeProvider? timeProvider, string keyPrefix)
    {
        ArgumentNullException.ThrowIfNull(cache);
        ArgumentNullException.ThrowIfNull(keyPrefix);
        _cache = cache;
        _time = timeProvider ?? TimeProvider.System;
        _prefix = keyPrefix;
    }

    /// <inheritdoc/>
    public byte[]? Get(string key) => GetAsync(key).GetAwaiter().GetResult();

    /// <inheritdoc/>
    public async Task<byte[]?> GetAsync(string key, CancellationToken token = default)
    {
        var mapped = Key(key);
        token.ThrowIfCancellationRequested();
        var cache = await _cache(token);
        var reply = await cache.ExecuteAsync(["HGETALL", mapped], token);
        var fields = Fields(Unwrap(reply));
        if (fields is null)
        {
            return null;
        }

        if (!fields.TryGetValue(Data, out var data))
        {
            throw new CacheCommandException($"'{mapped}' in cache '{cache.Name}' is not an IDistributedCache entry (no '{Data}' field)");
        }

        var header = Header.From(fields.GetValueOrDefault(AbsoluteField), fields.GetValueOrDefault(SlidingField));
        if (header.SlidingMs > 0)
        {
            await SlideAsync(cache, mapped, header, token);
        }

        return Convert.FromBase64String(data);
    }

    /// <inheritdoc/>
    public void Set(string key, byte[] value, DistributedCacheEntryOptions options) => SetAsync(key, value, options).GetAwaiter().GetResult();

    /// <inheritdoc/>
    public async Task SetAsync(string key, byte[] value, DistributedCacheEntryOptions options, CancellationToken token = default)
    {
        var mapped = Key(key);
        ArgumentNullException.ThrowIfNull(value);
        ArgumentNullException.ThrowIfNull(options);
        if (value.Length > MaxValueBytes)
        {
            throw new InvalidRequestException(nameof(value), string.Create(CultureInfo.InvariantCulture, $"is {value.Length} bytes; the limit is {MaxValueBytes} (stored as base64 within the cache's value limit of {Limits.Caching.MaxValueLength} characters)"));
        }

        var now = _time.GetUtcNow();
        var absolute = AbsoluteExpiration(now, options);
        var header = new Header(
            absolute is { } a ? a.ToUnixTimeMilliseconds() : -1,
            options.SlidingExpiration is { } s ? (long)Math.Ceiling(s.TotalMilliseconds) : -1);
        string[][] commands =
        [
            ["DEL", mapped],
            ["HSET", mapped, AbsoluteField, header.AbsoluteText, SlidingField, header.SlidingText, Data, Convert.ToBase64String(value)],
            .. header.ExpiryCommand(mapped, now) is { } expiry ? new[] { expiry } : [],
        ];
        token.ThrowIfCancellationRequested();
        var cache = await _cache(token);
        foreach (var reply in await cache.ExecuteAtomicAsync(commands, token))
        {
            Unwrap(reply);
        }
    }

    /// <inheritdoc/>
    public void Refresh(string key) => RefreshAsync(key).GetAwaiter().GetResult();

    /// <inheritdoc/>
    public async Task RefreshAsync(string key, CancellationToken token = default)
    {
        var mapped = Key(key);
        token.ThrowIfCancellationRequested();
        var cache = await _cache(token);
        var replies = await cache.ExecuteAtomicAsync([["HGET", mapped, AbsoluteField], ["HGET", mapped, SlidingField]], token);
        var header = Header.From(Unwrap(replies[0]).Text, Unwrap(replies[1]).Text);
        if (header.SlidingMs > 0)
        {
            await SlideAsync(cache, mapped, header, token);
        }
    }

    /// <summary>
    /// The second half of a Refresh that read the expiry settings <paramref name="absoluteMs"/> and
    /// <paramref name="slidingMs"/>, whatever the entry holds now (tests use it to stand for a Set
    /// that came between the two halves).
    /// </summary>
    internal async Task SlideAsync(string key, long absoluteMs, long slidingMs, CancellationToken token = default) =>
        await SlideAsync(await _cache(token), Key(key), new Header(absoluteMs, slidingMs), token);

    /// <inheritdoc/>
    public void Remove(string key) => RemoveAsync(key).GetAwaiter().GetResult();

    /// <inheritdoc/>
    public async Task RemoveAsync(string key, CancellationToken token = default)
    {
        var mapped = Key(key);
        token.ThrowIfCancellationRequested();
        var cache = await _cache(token);
        Unwrap(await cache.ExecuteAsync(["DEL", mapped], token));
    }

    /// <summary>
    /// Moves the entry's expiry to min(window, absolute - now), reading back in the same unit the
    /// expiry settings it now holds; when a concurrent Set changed them, applies theirs instead.
    /// </summary>
    private async Task SlideAsync(CacheClient cache, string key, Header header, CancellationToken token)
    {
        for (var round = 0; round < MaxSlideRounds; round++)
        {
            var expiry = header.ExpiryCommand(key, _time.GetUtcNow()) ?? ["PERSIST", key];
            var replies = await cache.ExecuteAtomicAsync([expiry, ["HGET", key, AbsoluteField], ["HGET", key, SlidingField]], token);
            Unwrap(replies[0]);
            var current = Header.From(Unwrap(replies[1]).Text, Unwrap(replies[2]).Text);
            if ((replies[1].IsNil && replies[2].IsNil) || current == header)
            {
                // Gone (expired, removed), or holding the settings the TTL was computed from.
                return;
            }

            header = current;
        }
    }

    /// <summary>The absolute expiry as Microsoft's caches compute it: a past absolute time is refused; a relative one wins over an absolute one.</summary>
    private static DateTimeOffset? AbsoluteExpiration(DateTimeOffset now, DistributedCacheEntryOptions options)
    {
        if (options.AbsoluteExpiration is { } absolute && absolute <= now)
        {
            throw new ArgumentOutOfRangeException(nameof(options), absolute, "The absolute expiration value must be in the future.");
        }

        return options.AbsoluteExpirationRelativeToNow is { } relative ? now + relative : options.AbsoluteExpiration;
    }

    private string Key(string key)
    {
        ArgumentNullException.ThrowIfNull(key);
        return ForeignNames.Map(_prefix + key);
    }

    private static CacheReply Unwrap(CacheReply reply) =>
        reply.IsError ? throw new CacheCommandException(reply.Text!) : reply;

    private static Dictionary<string, string>? Fields(CacheReply reply)
    {
        if (reply.Items is not { Count: > 0 } items)
        {
            return null;
        }

        var fields = new Dictionary<string, string>(items.Count / 2, StringComparer.Ordinal);
        for (var i = 0; i + 1 < items.Count; i += 2)
        {
            fields[items[i].Text!] = items[i + 1].Text!;
        }

        return fields;
    }

    /// <summary>An entry's expiry settings: absolute expiry in Unix milliseconds and sliding window in milliseconds, -1 for none.</summary>
    private readonly record struct Header(long AbsoluteMs, long SlidingMs)
    {
        public string AbsoluteText => AbsoluteMs < 0 ? None : AbsoluteMs.ToString(CultureInfo.InvariantCulture);

        public string SlidingText => SlidingMs < 0 ? None : SlidingMs.ToString(CultureInfo.InvariantCulture);

        public static Header From(string? absolute, string? sliding) => new(Parse(absolute), Parse(sliding));

        /// <summary>The command that gives the entry its TTL at <paramref name="now"/>, or null when it has none.</summary>
        public string[]? ExpiryCommand(string key, DateTimeOffset now)
        {
            long? ttl = SlidingMs > 0 ? SlidingMs : null;
            if (AbsoluteMs >= 0)
            {
                var left = AbsoluteMs - now.ToUnixTimeMilliseconds();
                ttl = ttl is { } t ? Math.Min(t, left) : left;
            }

            // A TTL of zero or less deletes the key, as in Redis: the entry has expired.
            return ttl is { } ms ? ["PEXPIRE", key, ms.ToString(CultureInfo.InvariantCulture)] : null;
        }

        private static long Parse(string? text) =>
            text is not null && long.TryParse(text, NumberStyles.AllowLeadingSign, CultureInfo.InvariantCulture, out var value) ? value : -1;
    }
}
